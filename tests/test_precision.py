import math

import numpy as np
import pytest

from tfreuse.precision import (CAPPED, PLANNED, PRECISE, EnoughRounds, StoppingRule,
                               median_interval, relative_half_width)


def test_median_interval_is_the_textbook_pair_of_order_statistics():
    # For 20 samples the distribution-free 95% interval of the median is [x(6), x(15)].
    assert median_interval(np.arange(1.0, 21.0)) == (6.0, 15.0)
    # For 100 samples: [x(40), x(61)].
    assert median_interval(np.random.default_rng(0).permutation(np.arange(1.0, 101.0))) == (40.0, 61.0)
    assert all(math.isnan(bound) for bound in median_interval([1.0]))


def test_relative_half_width_is_half_the_interval_over_the_median():
    assert relative_half_width(np.arange(1.0, 21.0)) == pytest.approx((15 - 6) / 2 / 10.5)
    assert relative_half_width([2.0] * 30) == 0.0
    assert relative_half_width([1.0]) == math.inf


def _noisy(count):
    """`count` rounds with a 50% spread: far from a 5% interval at these counts."""
    return list(np.random.default_rng(1).lognormal(0, 0.5, count))


def _rule(durations, at_least=20, at_most=100, target=0.05, references=None):
    return StoppingRule(lambda: durations, at_least, at_most, target,
                        (lambda: references) if references is not None else None)


def test_no_stop_before_the_planned_rounds_even_when_precise():
    rule = _rule([1.0] * 19)
    rule.before_round()  # 19 identical rounds: precise, but fewer than planned
    assert rule.reason == PLANNED


def test_stops_at_the_planned_rounds_when_precise_there():
    rule = _rule([1.0] * 20)
    with pytest.raises(EnoughRounds, match="^precise after 20 rounds$"):
        rule.before_round()
    assert rule.reason == PLANNED


def test_goes_on_while_imprecise_and_says_so_when_it_stops():
    noisy = _noisy(40)
    rule = _rule(noisy)
    rule.before_round()  # 40 rounds are not enough for 5%
    noisy[:] = noisy + [1.0] * 400
    with pytest.raises(EnoughRounds, match="^precise after 440 rounds$"):
        rule.before_round()
    assert rule.reason == PRECISE


def test_running_out_of_rounds_while_imprecise_is_capped():
    rule = _rule(_noisy(100))
    rule.ran_out()
    assert rule.reason == CAPPED


def test_without_a_target_the_rounds_are_the_planned_ones():
    rule = _rule(_noisy(20), target=None)
    assert rule.at_most == rule.at_least == 20
    rule.ran_out()
    assert rule.reason == PLANNED


def test_paired_rounds_are_judged_by_their_ratio_to_the_reference():
    drifting = list(np.linspace(1.0, 3.0, 20))  # the machine slows down threefold...
    references = [d / 10 for d in drifting]  # ...and the reference with it: the ratio is steady
    with pytest.raises(EnoughRounds, match="^precise after 20 rounds$"):
        _rule(drifting, references=references).before_round()
    assert _rule(drifting).precise() is False  # the durations alone are not
