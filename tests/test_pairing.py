from tfreuse.pairing import MAX_SETTLE_STEPS, SharedReference


def _reference(step_seconds):
    calls = []
    return SharedReference(lambda: calls.append("shared"), step_seconds), calls


def test_one_timed_step_per_round_after_the_settling_steps():
    reference, calls = _reference(1e-3)  # 5 ms of settling: 5 untimed steps
    assert reference.settle_steps == 5
    for _ in range(3):
        reference.before_round()
    assert len(calls) == 3 * (5 + 1)
    assert len(reference.samples) == 3 and all(s >= 0 for s in reference.samples)


def test_settling_is_capped_for_tiny_steps_and_skipped_for_slow_ones():
    assert _reference(1e-5)[0].settle_steps == MAX_SETTLE_STEPS
    assert _reference(0.05)[0].settle_steps == 0


def test_start_forgets_an_earlier_case():
    reference, _ = _reference(1.0)
    reference.before_round()
    reference.start()
    assert reference.samples == []
