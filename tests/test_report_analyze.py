import numpy as np
import pandas as pd
import pytest

from tfreuse.core.intervals import bootstrap_median_ratio, bootstrap_medians
from tfreuse.core.roles import RESTORABLE, Variant, by_name, record_fields
from tfreuse.report.analyze import (
    add_ratios,
    add_stability,
    constant_columns,
    cost_order,
    headlines,
    headlines_apart,
    is_fix,
    not_restored,
)
from tfreuse.report.load import load

from tests.report_helpers import MACHINE_A


def _rows(samples_by_variant, meanings=None, mode_phrase="inside tf.function"):
    """Rows as `load` gives them; each variant's meaning from `meanings` or the naming convention."""
    meanings = meanings or {}
    return pd.DataFrame([{
        "machine": "m", "run": "r", "scenario": "s", "mode": "function", "device": "CPU:0",
        "size": "small", "variant": variant, "outcome": "ok", "tfreuse": True,
        "samples": samples, "median": float(np.median(samples)), "mean": float(np.mean(samples)),
        "stddev": float(np.std(samples, ddof=1)), "rounds": len(samples),
        "rss_growth_per_step_bytes": 0.0, "traces_per_step": 0.0, "learning_retained": None,
        **_meaning(meanings.get(variant) or by_name(variant), mode_phrase),
    } for variant, samples in samples_by_variant.items()])


def _meaning(meaning: Variant, mode_phrase: str) -> dict:
    """The meaning fields as a loaded row holds them (the fixes' figures in one cell)."""
    fields = record_fields(meaning, mode_phrase)
    return {**fields, "fix_restores": ", ".join(fields["fix_restores"])}


MODEL_IN_LOOP = {
    "reinstantiated": Variant("re-instantiating the model every trial"),
    "mitigated_clear_session": Variant.fix("a new model per trial after clear_session()"),
    "mitigated_gc_collect": Variant.fix("a new model per trial after gc.collect()"),
}


def test_ratio_is_median_over_shared_median_in_the_same_situation():
    rng = np.random.default_rng(1)
    shared = 1.0 + 0.01 * rng.standard_normal(50)
    rows = add_ratios(_rows({"shared": shared, "reinstantiated": 3 * shared}))
    ratio = rows.set_index("variant")["ratio"]
    assert ratio["shared"] == 1.0
    assert ratio["reinstantiated"] == pytest.approx(3.0)


def test_interval_contains_the_ratio_and_narrows_with_more_samples():
    rng = np.random.default_rng(2)
    few_v, few_s = 2 + 0.2 * rng.standard_normal(10), 1 + 0.1 * rng.standard_normal(10)
    many_v, many_s = 2 + 0.2 * rng.standard_normal(400), 1 + 0.1 * rng.standard_normal(400)
    low_few, high_few = bootstrap_median_ratio(few_v, few_s)
    low_many, high_many = bootstrap_median_ratio(many_v, many_s)
    assert low_few <= np.median(few_v) / np.median(few_s) <= high_few
    assert high_many - low_many < high_few - low_few


def test_bootstrap_is_reproducible_and_needs_two_samples():
    v, s = np.array([2.0, 2.2, 1.9, 2.1]), np.array([1.0, 1.1, 0.9])
    assert bootstrap_median_ratio(v, s) == bootstrap_median_ratio(v, s)
    assert all(np.isnan(bootstrap_median_ratio(np.array([1.0]), s)))


def test_a_rows_bootstrap_does_not_depend_on_the_other_rows_in_the_file():
    rng = np.random.default_rng(7)
    row = list(rng.normal(1.0, 0.1, 20))
    others = [list(rng.normal(1.0, 0.1, n)) for n in (5, 12, 30)]
    alone = bootstrap_medians([row])[0]
    with_others = bootstrap_medians([others[0], others[1], row, others[2]])[2]
    np.testing.assert_array_equal(alone, with_others)


def test_no_shared_row_means_no_ratio():
    rows = add_ratios(_rows({"reinstantiated": np.array([1.0, 2.0])}))
    assert rows["ratio"].isna().all()


def test_unstable_when_noisy_or_too_few_rounds():
    rows = add_stability(_rows({"shared": np.array([1.0, 1.01, 0.99, 1.0, 1.0, 1.0]),
                                "noisy": np.array([1.0, 2.0, 0.5, 1.5, 1.0, 3.0]),
                                "short": np.array([1.0, 1.0])}))
    assert rows.set_index("variant")["unstable"].to_dict() == {"shared": False, "noisy": True, "short": True}


def test_recorded_stability_is_used_and_older_rows_get_the_same_rule():
    rows = _rows({"shared": np.array([1.0, 1.01, 0.99, 1.0, 1.0, 1.0]),
                  "noisy": np.array([1.0, 2.0, 0.5, 1.5, 1.0, 3.0])})
    # The harness recorded other figures than the statistics give: the recorded ones are shown.
    rows["timing_rsd"] = [0.5, None]
    rows["timing_unstable"] = [True, None]
    analyzed = add_stability(rows).set_index("variant")
    assert analyzed.loc["shared", ["rsd", "unstable"]].tolist() == [0.5, True]
    noisy = rows.set_index("variant").loc["noisy"]
    assert analyzed.loc["noisy", "rsd"] == pytest.approx(noisy["stddev"] / noisy["mean"])
    assert analyzed.loc["noisy", "unstable"] == True  # noqa: E712 - numpy bool


def test_refused_rows_get_no_ratio_and_headlines_name_scenario_and_machine():
    rows = add_stability(add_ratios(load([MACHINE_A]).rows))
    refused = rows[rows["outcome"] == "error"]
    assert len(refused) == 1 and refused["ratio"].isna().all()
    sentences = headlines(rows)
    assert len(sentences) == 2  # one per scenario on the one machine
    assert all("amd-epyc-2c-237aed" in s and "x the shared step time" in s for s in sentences)


def test_rounds_paired_with_shared_cancel_the_machines_drift():
    # The machine slows down 2x halfway through; the variant costs 3x shared in every round.
    drift = np.repeat([1.0, 2.0], 20) * (1 + 0.01 * np.random.default_rng(3).standard_normal(40))
    rows = _rows({"shared": np.full(40, 1.0), "reinstantiated": 3 * drift})
    rows["shared_samples_s"] = [None, list(drift)]  # timed just before each variant round
    analyzed = add_ratios(rows).set_index("variant")
    assert analyzed.at["reinstantiated", "ratio_paired"]
    assert analyzed.at["reinstantiated", "ratio"] == pytest.approx(3.0)
    assert analyzed.at["reinstantiated", "ratio_ci_low"] == pytest.approx(3.0)
    assert analyzed.at["reinstantiated", "ratio_ci_high"] == pytest.approx(3.0)
    unpaired = add_ratios(rows.drop(columns="shared_samples_s")).set_index("variant")
    assert not unpaired.at["reinstantiated", "ratio_paired"]
    assert unpaired.at["reinstantiated", "ratio"] > 4  # the shared row ran before the slowdown
    assert unpaired.at["reinstantiated", "ratio_ci_high"] - unpaired.at["reinstantiated", "ratio_ci_low"] > 1


def test_shared_samples_of_another_length_are_not_paired():
    rows = _rows({"shared": np.full(10, 1.0), "reinstantiated": np.full(10, 2.0)})
    rows["shared_samples_s"] = [None, [0.5] * 9]
    analyzed = add_ratios(rows).set_index("variant")
    assert not analyzed.at["reinstantiated", "ratio_paired"]
    assert analyzed.at["reinstantiated", "ratio"] == pytest.approx(2.0)


def test_a_reference_far_from_shareds_own_median_is_flagged_shifted():
    rows = _rows({"shared": np.full(10, 1.0), "steady": np.full(10, 3.0), "slow_spell": np.full(10, 6.0)})
    rows["shared_samples_s"] = [None, [1.1] * 10, [1.5] * 10]  # 10% and 50% above shared's own 1.0
    analyzed = add_stability(add_ratios(rows)).set_index("variant")
    assert analyzed["reference_shift"].round(6).to_dict() == pytest.approx(
        {"shared": np.nan, "steady": 0.1, "slow_spell": 0.5}, nan_ok=True)
    assert analyzed["shifted"].to_dict() == {"shared": False, "steady": False, "slow_spell": True}


def test_fixes_are_never_the_headline_but_a_fix_that_did_not_fix_is_named_in_its_own_words():
    rng = np.random.default_rng(4)
    shared = 1.0 + 0.01 * rng.standard_normal(30)
    rows = _rows({"shared": shared, "reinstantiated": 3 * shared, "mitigated": shared,
                  "mitigated_clear_session": 4 * shared, "mitigated_gc_collect": 1.01 * shared},
                 MODEL_IN_LOOP, mode_phrase="in Keras' default (tf.function) mode")
    sentences = headlines(add_stability(add_ratios(rows)))
    assert len(sentences) == 2
    assert sentences[0].startswith("Re-instantiating the model every trial in Keras' default (tf.function) mode costs")
    assert sentences[1].startswith("A new model per trial after clear_session() in Keras' default (tf.function) "
                                   "mode still costs 4.0x the shared step time")


def test_a_fix_is_a_row_whose_role_says_so_whatever_its_name():
    rows = _rows({"shared": [1.0, 1.0], "mitigated": [1.0, 1.0], "cached": [1.0, 1.0], "mitigated_not": [1.0, 1.0]},
                 {"cached": Variant.fix("a cache"), "mitigated_not": Variant("an anti-pattern named oddly")})
    assert list(is_fix(rows)) == [False, True, True, False]


def _fix_row(restores, **figures):
    row = {"fix_restores": ", ".join(restores), "ratio_ci_low": 1.0, "traces_per_step": 0.0,
           "learning_retained": 1.0, "retained_bytes_per_step": 0.0, "frozen_weight_drift": 0.0,
           "descriptors_per_step": 0.0, "threads_per_step": 0.0}
    return pd.Series({**row, **figures})


@pytest.mark.parametrize("figures, failed", [
    ({}, []),
    ({"ratio_ci_low": 1.6}, ["time"]),
    ({"traces_per_step": 1.0}, ["traces"]),
    ({"learning_retained": 0.5}, ["learning"]),
    ({"retained_bytes_per_step": 100_000.0}, ["memory"]),
    ({"retained_bytes_per_step": 10_000.0}, []),  # within the two readings' tolerance
    ({"frozen_weight_drift": 0.2}, ["drift"]),
    ({"ratio_ci_low": 2.0, "learning_retained": 0.1}, ["time", "learning"]),
    ({"descriptors_per_step": 1.0}, ["descriptors"]),
    ({"threads_per_step": 0.12}, []),  # a pool that grew once in the window, not a thread a step
    ({"threads_per_step": 1.0}, ["threads"]),
])
def test_a_fix_is_judged_on_each_figure_it_declares(figures, failed):
    baseline = pd.Series({"retained_bytes_per_step": 0.0, "frozen_weight_drift": 0.0, "descriptors_per_step": 0.0})
    assert not_restored(_fix_row(RESTORABLE, **figures), baseline) == failed


def test_a_fix_is_judged_on_what_it_declares_alone():
    # A freeze that holds, trained on another setup than `shared`: its learning is not its promise.
    row = _fix_row(("time", "traces", "drift"), learning_retained=0.48)
    assert not_restored(row, pd.Series({"frozen_weight_drift": 0.0})) == []
    assert not_restored(_fix_row(("time", "traces", "learning"), learning_retained=0.48)) == ["learning"]


def test_headline_gives_the_bytes_retained_per_step_not_rss_growth():
    rng = np.random.default_rng(4)
    shared = 1.0 + 0.01 * rng.standard_normal(20)
    rows = _rows({"shared": shared, "reinstantiated": 3 * shared})
    rows["rss_growth_per_step_bytes"] = [0.0, 0.0]  # RSS: the allocator had free pages left
    rows["retained_bytes_per_step"] = [100.0, 256_000.0]
    sentence = headlines(add_stability(add_ratios(rows)))[0]
    assert "keeps 250.0 KiB of memory per step" in sentence  # the unit of the report's tables
    rows["retained_bytes_per_step"] = [None, None]  # results from before the memory window
    assert "memory" not in headlines(add_stability(add_ratios(rows)))[0]


def test_cost_order_puts_each_situations_shared_first_then_costliest_and_refusals_last():
    rows = pd.DataFrame({
        "machine": "m", "device": "CPU:0", "size": "small",
        "mode": ["function", "function", "function", "function", "eager", "eager"],
        "variant": ["cheap", "refused", "shared", "dear", "dear", "shared"],
        "outcome": ["ok", "error", "ok", "ok", "ok", "ok"],
        "ratio": [2.0, np.nan, 1.0, 30.0, 3.0, 1.0]})
    ordered = cost_order(rows)
    assert list(zip(ordered["mode"], ordered["variant"])) == [
        ("function", "shared"), ("function", "dear"), ("function", "cheap"), ("function", "refused"),
        ("eager", "shared"), ("eager", "dear")]  # modes in the order they were measured


def test_constant_and_empty_columns_are_taken_out_with_what_they_said():
    table = pd.DataFrame({"variant": ["shared", "dear"], "machine": ["m", "m"], "drift": ["", ""],
                          "ratio": ["1.00x", "3.00x"]})
    kept, constant = constant_columns(table)
    assert list(kept.columns) == ["variant", "ratio"]
    assert constant == {"machine": "m", "drift": ""}
    one_row, constant = constant_columns(table.head(1))
    assert list(one_row.columns) == ["variant", "machine", "ratio"] and constant == {"drift": ""}


def test_headlines_apart_splits_fixes_that_did_not_fix_and_can_leave_the_machine_out():
    rng = np.random.default_rng(4)
    shared = 1.0 + 0.01 * rng.standard_normal(30)
    rows = _rows({"shared": shared, "reinstantiated": 3 * shared, "mitigated_clear_session": 4 * shared},
                 MODEL_IN_LOOP)
    rows["scenario"] = "model_in_loop"
    analyzed = add_stability(add_ratios(rows))
    costliest, unfixed = headlines_apart(analyzed)
    assert costliest + unfixed == headlines(analyzed)
    assert len(costliest) == 1 and costliest[0].startswith("Re-instantiating")
    assert len(unfixed) == 1 and unfixed[0].startswith("A new model per trial after clear_session()")
    assert costliest[0].endswith("(model_in_loop, small, CPU:0, on m).")
    assert headlines_apart(analyzed, name_machine=False)[0][0].endswith("(model_in_loop, small, CPU:0).")


def test_a_variant_nobody_worded_is_named_and_braces_are_not_taken_for_a_format_string():
    shared = 1.0 + 0.01 * np.random.default_rng(5).standard_normal(20)
    rows = _rows({"shared": shared, "re{new}_{a}": 3 * shared})
    sentence = headlines(add_stability(add_ratios(rows)))[0]
    assert sentence.startswith("The re{new}_{a} variant inside tf.function costs 3.0x the shared step time")


@pytest.mark.parametrize("phrase, start", [
    ("re-creating a layer", "Re-creating a layer"),
    ("tf.random.set_seed every step", "tf.random.set_seed every step"),
    ("keras.backend.clear_session() after fit", "keras.backend.clear_session() after fit"),
    ("model_fn per step", "model_fn per step"),
])
def test_a_sentence_starts_with_a_capital_unless_it_starts_with_code(phrase, start):
    shared = 1.0 + 0.01 * np.random.default_rng(6).standard_normal(20)
    rows = _rows({"shared": shared, "odd": 3 * shared}, {"odd": Variant(phrase)})
    assert headlines(add_stability(add_ratios(rows)))[0].startswith(f"{start} inside tf.function costs 3.0x")
