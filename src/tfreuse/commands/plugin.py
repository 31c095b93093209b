"""pytest plugin: options, case parametrization, the `reuse_benchmark` fixture, machine identity.

Registered for every pytest run through the `pytest11` entry point, so it stays inert for suites
that do not use it: its options are prefixed (`--tfreuse-...`), TensorFlow is imported only once
a tfreuse benchmark is collected, and machine info is added only to runs that had one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest

from tfreuse.core import devices
from tfreuse.core.profiles import Profile, counting_instructions, resolve_profile
from tfreuse.engine.conditions import thread_settings
from tfreuse.engine.harness import MODES, Case
from tfreuse.engine.session import Session
from tfreuse.engine.timer import Timer

# The run's one state object (profile, devices, what cases leave for later ones, end figures).
_SESSION = pytest.StashKey[Session]()
ORDERS = ("default", "reversed")

DEFAULT_MODES = "eager,function"
USER_SIZE = "default"

_OPTIONS = {
    "devices": "Devices to run on: all (default), cpu, gpu, or names such as CPU:0,GPU:1. "
               "A requested device TensorFlow does not see is skipped with a reason.",
    "profile": "Run lengths: smoke, quick or full (default: $TFREUSE_PROFILE, else full).",
    "modes": f"Modes for reuse_benchmark tests: any of {', '.join(MODES)} (default: {DEFAULT_MODES}).",
    "order": "Order of the benchmarks: default, or reversed (to check that no figure depends on "
             "what ran before it in the same process).",
    "measurement": "ID:K/N: this run is process K of N fresh processes of measurement ID (set by "
                   "`tfreuse bench`; the report merges them into intervals over processes).",
}
_FLAGS = {
    "isolate": "Take each case's trace, variable and memory figures from a fresh Python process "
               "that runs only that case (as asv does for peak memory); timing stays in this one.",
    "timing-only": "Time the cases (and count traces and variables) but run no memory window, learning "
                   "runs or overhead check: `tfreuse bench` runs its processes after the first this way.",
    "no-summary": "Leave out the findings table printed at the end of the session.",
    "instructions": "Count instructions per step of the reuse cases (shared and the fixes) under "
                    "valgrind's callgrind; every other test is deselected. Set by `tfreuse "
                    "instructions` and `tfreuse ab`, which run pytest under valgrind.",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tfreuse", "tfreuse: cost of re-creating TensorFlow variables")
    for name, help_text in _OPTIONS.items():
        group.addoption(f"--tfreuse-{name}", dest=f"tfreuse_{name}", help=help_text)
    for name, help_text in _FLAGS.items():
        group.addoption(f"--tfreuse-{name}", dest=f"tfreuse_{name.replace('-', '_')}", action="store_true",
                        help=help_text)


def add_short_options(parser: pytest.Parser) -> None:
    """`--devices` and `--profile` as aliases, for a project (like tfreuse's own) that wants them."""
    group = parser.getgroup("tfreuse")
    for name in ("devices", "profile"):
        group.addoption(f"--{name}", dest=f"tfreuse_{name}", help=f"same as --tfreuse-{name}")


def _modes(raw: str | None) -> list[str]:
    chosen = [mode.strip() for mode in (raw or DEFAULT_MODES).split(",") if mode.strip()]
    unknown = [mode for mode in chosen if mode not in MODES]
    if unknown or not chosen:
        raise ValueError(f"--tfreuse-modes: {', '.join(unknown) or 'nothing'} is not a mode; "
                         f"choose from {', '.join(MODES)}")
    return chosen


def measurement(raw: str | None) -> dict | None:
    """`--tfreuse-measurement ID:K/N` as {"id", "process", "processes"}; None when not given."""
    if not raw:
        return None
    identity, _, position = raw.rpartition(":")
    process, _, processes = position.partition("/")
    if not identity or not process.isdigit() or not processes.isdigit() or not 1 <= int(process) <= int(processes):
        raise ValueError(f"--tfreuse-measurement {raw!r}: expected ID:K/N, process K of N (1 <= K <= N)")
    return {"id": identity, "process": int(process), "processes": int(processes)}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tfreuse: a tfreuse benchmark case")
    config.addinivalue_line(
        "markers", "reuse_guard(warmup_steps=1, max_traces=0, max_new_variables=0, max_retained_bytes_per_step=65536, "
                   "*, max_new_descriptors=0, max_new_threads=0): limits of the test's `reuse_guard` fixture")
    from tfreuse.core.busy import BusyWatch

    busy = BusyWatch()
    try:
        profile = resolve_profile(config.getoption("tfreuse_profile"))
        if config.getoption("tfreuse_timing_only"):
            profile = replace(profile, timing_only=True)
        if config.getoption("tfreuse_instructions"):
            profile = counting_instructions(profile)
        if config.getoption("tfreuse_devices"):
            devices.select_devices(config.getoption("tfreuse_devices"), [])
        _modes(config.getoption("tfreuse_modes"))
        thread_settings()
        measurement(config.getoption("tfreuse_measurement"))
        if (config.getoption("tfreuse_order") or "default") not in ORDERS:
            raise ValueError(f"--tfreuse-order: {config.getoption('tfreuse_order')!r} is not an "
                             f"order; choose {' or '.join(ORDERS)}")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_SESSION] = Session(profile, busy)


def _session(config: pytest.Config) -> Session:
    """This run's `Session` (made when pytest configures)."""
    return config.stash[_SESSION]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("tfreuse_instructions"):
        from tfreuse.engine.harness import counts_instructions

        counted = [(case := _case_of(item)) is not None and counts_instructions(_scenario_of(item), case.variant)
                   for item in items]
        if not all(counted):
            config.hook.pytest_deselected(items=[item for item, kept in zip(items, counted) if not kept])
            items[:] = [item for item, kept in zip(items, counted) if kept]
    if config.getoption("tfreuse_order") == "reversed":
        items.reverse()


def _case_of(item: pytest.Item) -> Case | None:
    """The tfreuse case a collected test measures, if it is one."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = params.get("tfreuse_case", params.get("reuse_benchmark"))
    return case if isinstance(case, Case) else None


def _scenario_of(item: pytest.Item) -> Any:
    """The scenario a `benchmark_test` measures (None for a `reuse_benchmark` test, whose variants
    are the layer-reuse ones, named by the convention)."""
    return getattr(getattr(item, "function", None), "tfreuse_scenario", None)


def _device_choices(config: pytest.Config) -> list[devices.DeviceChoice]:
    session = _session(config)
    if session.devices is None:
        from tfreuse.engine.conditions import apply_thread_settings

        apply_thread_settings()  # before TensorFlow initializes, which listing devices does not do
        session.devices = devices.select_devices(config.getoption("tfreuse_devices"), devices.visible_devices())
        devices.warn_without_growth(devices.memory_growth(), [choice.name for choice in session.devices])
    return session.devices


def _warm_gpus(config: pytest.Config) -> dict:
    """Warm each selected GPU once, before the session's first case; what it took, by device.

    A GPU's one-time start-up would otherwise land in the first case's `first_step_s`. With it,
    the fixed cost of the per-step device wait (`devices.wait_cost`), for machine_info.
    """
    session = _session(config)
    if session.warmed is None:
        session.warmed = {
            choice.name: {**devices.warm_up(choice.name), "wait_s": devices.wait_cost(choice.name)}
            for choice in _device_choices(config) if choice.skip_reason is None and devices.is_gpu(choice.name)
        }
    return session.warmed


def _param(case: Case, reason: str | None):
    marks = [pytest.mark.tfreuse] + ([pytest.mark.skip(reason=reason)] if reason else [])
    return pytest.param(case, id=case.id, marks=marks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    scenario = getattr(metafunc.function, "tfreuse_scenario", None)
    if scenario is not None and "tfreuse_case" in metafunc.fixturenames:
        _session(metafunc.config).used = True
        choices = {choice.name: choice for choice in _device_choices(metafunc.config)}
        all_sizes = _session(metafunc.config).profile.all_sizes
        metafunc.parametrize("tfreuse_case", [
            _param(case, choices[case.device].skip_reason or scenario.skip_reason(case.variant, case.mode))
            for case in scenario.cases(list(choices), all_sizes)
        ])
    elif "reuse_benchmark" in metafunc.fixturenames:
        from tfreuse.scenarios.layer_reuse import REUSE_VARIANTS

        _session(metafunc.config).used = True
        name = metafunc.function.__name__.removeprefix("test_")
        choices = _device_choices(metafunc.config)
        modes = _modes(metafunc.config.getoption("tfreuse_modes"))
        metafunc.parametrize("reuse_benchmark", [
            _param(Case(name, variant, mode, choice.name, USER_SIZE), choice.skip_reason)
            for mode in modes for variant in REUSE_VARIANTS for choice in choices
        ], indirect=True)


@pytest.fixture
def tfreuse_profile(request: pytest.FixtureRequest) -> Profile:
    """The profile chosen for this run (rounds, warm-up, memory steps)."""
    return _session(request.config).profile


@pytest.fixture
def tfreuse_run(request: pytest.FixtureRequest, benchmark: Any, tfreuse_profile: Profile) -> Callable:
    """`run(scenario, case)`: measure one case with the harness; return its extra_info record.

    Each timed `shared` case is remembered with its median, so the session can measure the
    harness overhead on the cheapest one (see `pytest_benchmark_update_machine_info`). With
    `--tfreuse-isolate` the probe figures are replaced by those of a fresh process.
    """
    from tfreuse.engine import harness, isolation

    session, timer = _session(request.config), Timer(benchmark)

    def run(scenario, case: Case) -> dict:
        _warm_gpus(request.config)
        record = harness.run_case(benchmark, scenario, case, session)
        if isolation.hand_back(record):  # this process is the fresh one of an isolated case
            return record
        if request.config.getoption("tfreuse_isolate") and record["outcome"] == "ok":
            options = {name: request.config.getoption(f"tfreuse_{name}") for name in ("modes",)}
            record.update(isolation.figures_from_fresh_process(
                request.node.nodeid, request.config.rootpath, tfreuse_profile.name, case.device, options))
            timer.record(record)
        stats = timer.summary()
        if case.variant == "shared" and record["outcome"] == "ok" and stats is not None:
            session.shared_medians.append((stats["median"], scenario, case))
        session.results.append(_as_json(request.node, timer.group, record, stats))
        return record

    return run


def _as_json(node: pytest.Item, group: str | None, record: dict, stats: dict | None) -> dict:
    """One benchmark as pytest-benchmark's JSON holds it, for the session's summary table."""
    return {"name": node.name, "fullname": node.nodeid, "group": group, "extra_info": dict(record),
            "stats": stats if stats is not None else {"data": []}}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The findings table of this session's tfreuse benchmarks (`report.terminal`), unless timing
    was disabled or `--tfreuse-no-summary` was given."""
    session = config.stash.get(_SESSION, None)
    results = session.results if session is not None else []
    disabled = config.getoption("benchmark_disable", False) and not config.getoption("benchmark_enable", False)
    if not results or disabled or config.getoption("tfreuse_no_summary"):
        return
    from tfreuse.core.busy import verdict
    from tfreuse.report.terminal import session_lines

    saved = config.getoption("benchmark_json", None)
    terminalreporter.write_sep("-", "tfreuse")
    for line in session_lines(results, {"tfreuse": {"label": "this session"}}, str(saved) if saved else None):
        terminalreporter.write_line(line)
    busy = verdict(session.busy.figures())
    if busy:
        terminalreporter.write_line(f"warning: {busy}", yellow=True, bold=True)


def _user_scenario(node: pytest.Item, case: Case) -> str:
    """The scenario a user's test names: its name without `test_`, plus its own parameter ids.

    `test_layer[shared-eager-CPU:0-default-lstm]` -> `layer[lstm]`, so a test parametrized over
    several layers gives one scenario per parameter (and rows that `report` and `compare` keep apart).
    """
    name = node.originalname.removeprefix("test_")
    ids = node.name[len(node.originalname):].removeprefix("[").removesuffix("]")
    own = "-".join(part for part in ids.split(case.id, 1) if part).replace("--", "-").strip("-")
    return f"{name}[{own}]" if own else name


@pytest.fixture
def reuse_benchmark(request: pytest.FixtureRequest, tfreuse_run: Callable, tfreuse_profile: Profile) -> Callable:
    """Measure your own layer: call it with factories; get this case's extra_info record back.

    `reuse_benchmark(make_layer, make_inputs, loss=None, name=None, size=None, thing=None,
    phrases=None)`: `make_layer()` returns a new Keras layer or model, `make_inputs()` a tensor or
    a tuple of them; with `loss(outputs) -> scalar` every step is an SGD step and learning figures
    are recorded. The test is parametrized over the variants (shared, reinstantiated,
    reinitialized, mitigated), modes and devices. The scenario is named after the test and its own
    parameters (`layer[lstm]` for `test_layer` with the id `lstm`), the size `default`; `name` and
    `size` override them. Reports word the variants for `thing` ("the layer" unless given);
    `phrases` rewords any of them (`tfreuse.scenarios.layer_reuse.LayerReuse`).
    """
    collected: Case = request.param

    def measure(make_layer: Callable[[], Any], make_inputs: Callable[[], Any],
                loss: Callable[[Any], Any] | None = None, name: str | None = None,
                size: str | None = None, thing: str | None = None,
                phrases: Mapping[str, Any] | None = None) -> dict:
        from tfreuse.scenarios.layer_reuse import LayerReuse, as_inputs

        case = replace(collected, scenario=name or _user_scenario(request.node, collected),
                       size=size or collected.size)
        scenario = LayerReuse(case.scenario, make_layer=lambda _size: make_layer(),
                              make_inputs=lambda _size: as_inputs(make_inputs()),
                              sizes={case.size: {}}, loss=loss, thing=thing or "the layer", phrases=phrases)
        return tfreuse_run(scenario, case)

    return measure


def _harness_overhead(config: pytest.Config) -> dict | None:
    """The harness overhead measured on this session's cheapest timed `shared` step (None if none).

    Measured once, when results are saved (pytest-benchmark may ask for machine info twice).
    """
    session = _session(config)
    if not session.shared_medians or session.profile.timing_only:
        return None
    if session.overhead is None:
        from tfreuse.engine import overhead

        _median, scenario, case = min(session.shared_medians, key=lambda entry: entry[0])
        session.overhead = overhead.measure(scenario, case, session.profile)
    return session.overhead


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add TensorFlow, CPU/GPU identity, conditions, harness overhead, GPU warm-up and the label.

    Only for runs that had a tfreuse benchmark; pytest-benchmark calls this once, when it saves.
    """
    session = config.stash.get(_SESSION, None)
    if session is None or not session.used:
        return
    from tfreuse.core.machine import tensorflow_info
    from tfreuse.engine.conditions import describe

    profile = session.profile
    info = tensorflow_info(machine_info.get("cpu"))
    info["profile"] = profile.as_dict()
    info["conditions"] = {**describe(profile.seed), "order": config.getoption("tfreuse_order") or "default"}
    info["harness_overhead"] = _harness_overhead(config)
    info["gpu_warm_up"] = session.warmed or {}
    info["rootdir"] = str(config.rootpath)  # benchmark fullnames are relative to it
    info["measurement"] = measurement(config.getoption("tfreuse_measurement"))
    info["busy"] = session.busy.figures()
    machine_info["tfreuse"] = info


@pytest.fixture
def reuse_guard(request: pytest.FixtureRequest):
    """A `tfreuse.tools.guard.ReuseGuard` around the test: wrap each step in `with reuse_guard.step():`.

    The first step (`warmup_steps`) may build and trace; a later step that creates a tf.Variable
    or traces a tf.function fails the test, naming the variable, the line that constructed its
    Keras layer, optimizer or metric and the line that built it, or the function and the argument
    that changed. Limits come from `@pytest.mark.reuse_guard(...)`.
    """
    from tfreuse.tools.guard import ReuseGuard

    marker = request.node.get_closest_marker("reuse_guard")
    try:
        guard = ReuseGuard(*(marker.args if marker else ()), **(marker.kwargs if marker else {}))
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"@pytest.mark.reuse_guard on {request.node.nodeid}: {exc}") from None
    with guard:
        yield guard
