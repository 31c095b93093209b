"""The report's figures: what each draws, and SVG that a page can hold several of."""

import re
import xml.etree.ElementTree as ElementTree

import pytest

from tfreuse.report import plots
from tfreuse.report.analyze import analyze
from tfreuse.report.load import load

from tests.report_helpers import MACHINE_A, many_scenario_run


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    return analyze(load([many_scenario_run(tmp_path_factory.mktemp("run"))]).rows)


def _texts(svg: str) -> list[str]:
    return [t.text for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text") if t.text]


@pytest.mark.slow
def test_overview_draws_every_scenarios_recreating_variants_and_no_fix_or_baseline(analyzed):
    svg = plots.overview(analyzed)
    texts = _texts(svg)  # parses: the compacted SVG is still well-formed XML
    assert set(analyzed["scenario"]) <= set(texts)
    assert {"reinstantiated", "reinitialized"} <= set(texts)
    assert "mitigated" not in texts and "shared" not in texts
    assert {"eager (x shared)", "tf.function (x shared)", "retained KiB/step"} <= set(texts)


def test_traces_are_drawn_only_where_a_scenario_has_any(analyzed):
    retracing = analyzed[analyzed["scenario"] == "attention"]
    assert (retracing["traces_per_step"] > 0).any()
    assert "traces per step" in _texts(plots.scenario_figure(retracing, "attention"))
    flat = retracing.assign(traces_per_step=0.0)
    texts = _texts(plots.scenario_figure(flat, "attention"))
    assert "traces per step" not in texts and "x shared (log scale)" in texts


@pytest.mark.slow
def test_figures_on_one_page_share_no_id_and_every_reference_resolves(analyzed):
    one = analyzed[analyzed["scenario"] == "attention"]
    figures = [plots.overview(analyzed), plots.scenario_figure(one, "attention"),
               plots.distributions(one, "attention")]
    ids = [i for svg in figures for i in re.findall(r' id="([^"]+)"', svg)]
    assert len(ids) == len(set(ids))
    classes = [re.findall(r"<style>(.*?)</style>", svg)[0] for svg in figures]
    names = [set(re.findall(r"\.([\w-]+)\{", rules)) for rules in classes]
    assert not (names[0] & names[1]) and not (names[1] & names[2])  # page-wide CSS: no clash
    for svg in figures:
        references = set(re.findall(r'(?:href="#|url\(#)([^")]+)', svg))
        assert references and references <= set(ids)


@pytest.mark.slow
def test_a_figure_is_the_same_whatever_was_drawn_before_it(analyzed):
    one = analyzed[analyzed["scenario"] == "recurrent"]
    first = plots.scenario_figure(one, "recurrent")
    plots.overview(analyzed)
    assert plots.scenario_figure(one, "recurrent") == first


def test_no_figure_without_anything_to_draw():
    rows = analyze(load([MACHINE_A]).rows)
    assert plots.overview(rows[rows["variant"] == "shared"]) is None
    assert plots.machine_heatmap(rows) is None  # one machine


def test_sizes_go_from_the_fastest_shared_step_to_the_slowest_not_by_name(analyzed):
    # "large" sorts before "small" by name; its shared step is 4x slower in this run.
    assert plots.size_order(analyzed)["attention"] == ["small", "large"]
    # Without the shared rows there is nothing to order by: names decide.
    assert plots.size_order(analyzed[analyzed["variant"] != "shared"])["attention"] == ["large", "small"]
