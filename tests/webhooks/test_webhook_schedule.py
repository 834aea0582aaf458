"""Retry timing of webhook deliveries: exponential, capped, jittered within [1/2, 1] of nominal."""

from __future__ import annotations

import random

from bgremover.webhooks.schedule import RetrySchedule


def test_the_nominal_delays_double_and_are_capped() -> None:
    schedule = RetrySchedule(max_attempts=8, base_s=30, max_s=600)
    assert [schedule.nominal_delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]


def test_jitter_stays_between_half_and_all_of_the_nominal_delay() -> None:
    schedule = RetrySchedule(max_attempts=8, base_s=10, max_s=3600)
    assert schedule.next_delay(3, rng=lambda: 0.0) == 20.0
    assert schedule.next_delay(3, rng=lambda: 1.0) == 40.0
    rng = random.Random(7)
    delays = [schedule.next_delay(2, rng=rng.random) for _ in range(200)]
    assert all(d is not None and 10 <= d <= 20 for d in delays)
    assert len({round(d or 0, 6) for d in delays}) > 150  # actually spread, not one value


def test_it_gives_up_after_max_attempts() -> None:
    schedule = RetrySchedule(max_attempts=3, base_s=1)
    assert schedule.next_delay(2) is not None
    assert schedule.next_delay(3) is None
    assert schedule.next_delay(4) is None
