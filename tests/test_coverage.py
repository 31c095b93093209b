"""Coverage guard: every scenario declares every variant, mode and size it runs, and says why it skips."""

import pytest

from tfreuse.engine.harness import MODES, Scenario

from tests.scenario_registry import benchmark_modules, scenarios

SCENARIOS = scenarios()
IDS = [name for name, _ in SCENARIOS]


def test_every_benchmark_module_declares_one_scenario_or_says_why_not():
    declared = {name for name, _ in SCENARIOS}
    exempt = {name for name, module in benchmark_modules().items() if getattr(module, "NOT_A_SCENARIO", "")}
    assert declared | exempt == set(benchmark_modules()) and not declared & exempt
    assert len(IDS) == len(set(IDS))


def test_scenario_names_are_unique():
    names = [scenario.name for _, scenario in SCENARIOS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("scenario", [s for _, s in SCENARIOS], ids=IDS)
def test_every_variant_has_a_step_maker(scenario: Scenario):
    layouts = getattr(scenario, "layouts", {})
    missing = [v for v in scenario.variants if not callable(getattr(scenario, v, None)) and v not in layouts]
    assert missing == []
    assert "shared" in scenario.variants, "ratios are computed against `shared`"


@pytest.mark.parametrize("scenario", [s for _, s in SCENARIOS], ids=IDS)
def test_modes_and_sizes_are_declared(scenario: Scenario):
    assert scenario.modes and set(scenario.modes) <= set(MODES)
    assert scenario.sizes and all(isinstance(p, dict) and p for p in scenario.sizes.values())


@pytest.mark.parametrize("scenario", [s for _, s in SCENARIOS], ids=IDS)
def test_skips_and_refusals_name_declared_combinations_with_reasons(scenario: Scenario):
    for variant, mode in list(scenario.skips) + list(scenario.expected_errors):
        assert variant in scenario.variants and mode in scenario.modes, (variant, mode)
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in scenario.skips.values())
    assert not set(scenario.skips) & set(scenario.expected_errors)


@pytest.mark.parametrize("scenario", [s for _, s in SCENARIOS], ids=IDS)
def test_every_combination_runs_or_says_why(scenario: Scenario):
    for case in scenario.cases(["CPU:0"]):
        reason = scenario.skip_reason(case.variant, case.mode)
        assert reason is None or reason.strip()
    ran = [c for c in scenario.cases(["CPU:0"]) if scenario.skip_reason(c.variant, c.mode) is None]
    assert {c.variant for c in ran} == set(scenario.variants)


@pytest.mark.parametrize("scenario", [s for _, s in SCENARIOS], ids=IDS)
def test_every_variant_declares_its_role_and_words(scenario: Scenario):
    from tfreuse.core.roles import BASELINE, FIX, Variant, by_name

    assert isinstance(scenario.variants, dict)
    assert all(isinstance(v, (Variant, str)) for v in scenario.variants.values())
    meanings = {name: scenario.meaning(name) for name in scenario.variants}
    assert [name for name, m in meanings.items() if m.role == BASELINE] == ["shared"]
    assert all(m.role == FIX for name, m in meanings.items() if name.startswith("mitigated"))
    assert [name for name, m in meanings.items() if m.phrase == by_name(name).phrase] == [], "say it in words"
    assert set(scenario.mode_phrases) >= set(scenario.modes)


def test_the_scenarios_page_says_what_the_modules_declare():
    from tfreuse.commands.catalogue import BEGIN, END, scenarios, section
    from tfreuse.report.findings import replace_block

    from tests.scenario_registry import BENCHMARKS

    page = BENCHMARKS.parent / "docs" / "scenarios.md"
    text = page.read_text()
    current = replace_block(text, section(scenarios([BENCHMARKS])), str(page), BEGIN, END)
    assert text == current, "run `tfreuse scenarios benchmarks --markdown docs/scenarios.md`"
