"""The formatters every report, table and command output shares."""

import math

import numpy as np
import pandas as pd
import pytest

from tfreuse.core.units import interval_text, ratio_text, significant


@pytest.mark.parametrize("value, shown", [(7.0, "7.00"), (0.6881, "0.688"), (12.34, "12.3"), (362.4, "362")])
def test_significant_keeps_three_digits_and_trailing_zeros(value, shown):
    assert significant(value) == shown


@pytest.mark.parametrize("arguments, shown", [
    ((3.0, 2.9, 3.1), "3.00x [2.90–3.10]"),  # the HTML report's and the summary's precision
    ((12.34, 11.0, 13.9, significant), "12.3x [11.0–13.9]"),  # the findings table's
    ((3.0, np.nan, np.nan), "3.00x"),  # no interval: one process's single round
    ((3.0, 2.9, None), "3.00x"),
    ((3.0,), "3.00x"),
    ((math.nan, 2.9, 3.1), ""),  # no ratio: no shared baseline
    ((pd.NA,), ""),
])
def test_a_ratio_with_its_interval_where_it_has_one(arguments, shown):
    assert ratio_text(*arguments) == shown


def test_brackets_dash_and_spec_are_the_callers():
    assert ratio_text(3.0, 2.9, 3.1, brackets="()") == "3.00x (2.90–3.10)"
    assert interval_text(2.94, 3.06, ".1f", dash="-") == "2.9-3.1"
    assert interval_text(0.0012, 0.0015, lambda v: f"{v * 1e3:.3f}", ", ", "[]") == "[1.200, 1.500]"
    assert interval_text(np.inf, 3.0) == "" and interval_text(None, 3.0) == ""
