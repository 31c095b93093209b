"""Test doubles shared by the unit tests."""

from __future__ import annotations


class FakeBenchmark:
    """Stands in for pytest-benchmark's fixture: runs `pedantic` targets and keeps extra_info."""

    def __init__(self):
        self.extra_info: dict = {}
        self.group = None
        self.calls = 0

    def pedantic(self, target, args=(), kwargs=None, setup=None, teardown=None, rounds=1,
                 iterations=1, warmup_rounds=0):
        for _ in range(warmup_rounds + rounds):
            if setup is not None:
                setup()
            for _ in range(iterations):
                self.calls += 1
                result = target(*args, **(kwargs or {}))
            if teardown is not None:
                teardown(*args, **(kwargs or {}))
        return result
