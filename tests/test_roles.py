"""What a variant means: declarations are checked, undeclared and older records get the naming
convention's meaning, and a declared meaning travels in the record to the report."""

import json

import pytest

from tfreuse.core.roles import ANTI_PATTERN, BASELINE, FIX, Variant, by_name, declared
from tfreuse.report.load import load

from tests.report_helpers import MACHINE_A


@pytest.mark.parametrize("make, problem", [
    (lambda: Variant("x", role="hero"), "variant role 'hero'"),
    (lambda: Variant.fix("x", restores=("speed",)), "a fix restores speed"),
    (lambda: Variant("x", restores=("time",)), "only a fix restores figures"),
])
def test_a_declaration_that_means_nothing_is_refused(make, problem):
    with pytest.raises(ValueError, match=problem):
        make()


@pytest.mark.parametrize("name, role", [("shared", BASELINE), ("mitigated", FIX), ("mitigated_cache", FIX),
                                        ("reinstantiated", ANTI_PATTERN), ("mitigatedness", ANTI_PATTERN)])
def test_the_naming_convention_gives_the_role_of_an_undeclared_variant(name, role):
    assert by_name(name).role == role
    assert by_name(name).phrase == f"the {name} variant"


def test_a_phrase_alone_keeps_the_conventional_role():
    meanings = declared({"shared": "one layer", "mitigated_cache": "a cache", "odd": Variant.fix("odd")})
    assert [m.role for m in meanings.values()] == [BASELINE, FIX, FIX]
    assert meanings["mitigated_cache"].phrase == "a cache"


def test_a_record_from_before_the_meaning_fields_gets_the_conventional_meaning(tmp_path):
    data = json.loads(MACHINE_A.read_text())
    for bench in data["benchmarks"]:
        for key in ("variant_role", "variant_phrase", "fix_restores", "mode_phrase"):
            bench["extra_info"].pop(key, None)
        bench["extra_info"]["schema_version"] = 4
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    rows = load([path]).rows.drop_duplicates("variant").set_index("variant")
    assert rows.loc["shared", "variant_role"] == BASELINE
    assert rows.loc["mitigated", "variant_role"] == FIX
    assert rows.loc["mitigated", "fix_restores"] == "time, traces, learning"
    assert rows.loc["reinstantiated", "variant_phrase"] == "the reinstantiated variant"
    assert set(rows["mode_phrase"]) <= {"in eager mode", "inside tf.function", "under XLA"}


def test_the_baseline_is_shared_or_the_declaration_is_refused():
    with pytest.raises(ValueError, match="the baseline is the variant `shared`"):
        declared({"shared": "one layer", "cached": Variant.baseline("a cache")})
    with pytest.raises(ValueError, match="not reused"):
        declared({"reused": Variant.baseline("reused")})
