"""`Timer`: pytest-benchmark's fixture as tfreuse uses it, and the only module of `src/` that touches it."""

import ast
import json
from pathlib import Path

import pytest

import tfreuse
from tfreuse.engine.timer import STATS, Timer

from tests.fakes import FakeBenchmark

pytest_plugins = ["pytester"]

# The fixture's internals: names no other object in `src/` uses, and names that count only on
# something named like the fixture (`re.Match.group()` and a report row's `.group` are not it).
FIXTURE_ONLY = {"pedantic", "has_error", "extra_info"}
FIXTURE_TOO = {"disabled", "enabled", "group", "stats"}
PACKAGE = Path(tfreuse.__file__).parent
TIMER = PACKAGE / "engine" / "timer.py"


def _internal(owner: ast.expr, name: object) -> bool:
    return name in FIXTURE_ONLY or (name in FIXTURE_TOO and "bench" in ast.unparse(owner).lower())


def _touches(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and _internal(node.value, node.attr):
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant) and _internal(node.args[0], node.args[1].value)):
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_timer_touches_pytest_benchmarks_fixture():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != TIMER for hit in _touches(path)]
    assert found == []
    assert _touches(TIMER)  # the check sees what it looks for


def test_rounds_run_setup_and_teardown_around_each_timed_step():
    log = []
    bench = FakeBenchmark(durations=iter([0.1, 0.2, 0.3]))
    Timer(bench).rounds(lambda: log.append("step"), 3, lambda: log.append("before"), lambda: log.append("after"))
    assert log == ["before", "step", "after"] * 3
    assert bench.calls == 3 and Timer(bench).summary()["data"] == [0.1, 0.2, 0.3]


def test_with_timing_off_the_rounds_still_run_around_the_fixtures_one_call():
    log = []
    bench = FakeBenchmark()
    bench.disabled = True
    timer = Timer(bench)
    timer.rounds(lambda: log.append("step"), 3, None, lambda: log.append("after"))
    assert log == ["step", "after"] * 3
    assert bench.calls == 1 and timer.disabled and timer.summary() is None


def test_once_is_one_round_of_one_call_and_gives_its_result():
    bench = FakeBenchmark()
    assert Timer(bench).once(lambda a, b: a + b, 2, 3) == 5
    assert bench.calls == 1


def test_summary_holds_pytest_benchmarks_statistics_and_the_rounds():
    bench = FakeBenchmark(durations=iter([3.0, 1.0, 2.0]))
    timer = Timer(bench)
    assert timer.summary() is None  # nothing timed yet
    timer.rounds(lambda: None, 3, None, lambda: None)
    summary = timer.summary()
    assert list(summary) == [*STATS, "data"]
    assert (summary["median"], summary["min"], summary["rounds"], summary["data"]) == (2.0, 1.0, 3, [3.0, 1.0, 2.0])


def test_group_and_record_land_on_the_fixture():
    bench = FakeBenchmark()
    timer = Timer(bench)
    timer.group = "toy-eager-CPU:0-tiny"
    timer.record({"outcome": "ok"})
    timer.record({"variant": "shared"})
    assert (timer.group, bench.group, bench.extra_info) == ("toy-eager-CPU:0-tiny", "toy-eager-CPU:0-tiny",
                                                            {"outcome": "ok", "variant": "shared"})


USES_THE_REAL_FIXTURE = '''
from tfreuse.engine.timer import Timer


def test_timer(benchmark, request):
    off = request.config.getoption("benchmark_disable")
    timer = Timer(benchmark)
    calls = []
    timer.group = "g"
    timer.rounds(lambda: calls.append("step"), 4, None, lambda: calls.append("after"))
    summary = timer.summary()
    assert calls == ["step", "after"] * 4
    assert timer.disabled is off and (summary is None) is off
    timer.record({"calls": len(calls), "rounds": summary and summary["rounds"],
                  "data": summary and len(summary["data"])})
'''


@pytest.mark.slow
@pytest.mark.parametrize("timing", ["on", "off"])
def test_the_timer_reads_pytest_benchmarks_own_fixture(pytester, timing):
    pytester.makepyfile(test_real=USES_THE_REAL_FIXTURE)
    off = ["--benchmark-disable"] if timing == "off" else []
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--benchmark-json", "out.json", *off)
    result.assert_outcomes(passed=1)  # the test's own asserts: every round ran, timed or not
    if timing == "on":
        saved = json.loads((pytester.path / "out.json").read_text())["benchmarks"][0]
        assert saved["group"] == "g" and saved["stats"]["rounds"] == 4
        assert saved["extra_info"] == {"calls": 8, "rounds": 4, "data": 4}
