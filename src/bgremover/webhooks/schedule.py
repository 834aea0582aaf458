"""When a failed delivery is tried again, and when it is given up.

Exponential backoff with "equal jitter": the n-th retry waits between half and all of
``base_s * 2**(n-1)`` (capped at ``max_s``), so receivers that came back after an outage are not hit
by every sender at the same second, and yet no retry comes sooner than half its nominal delay.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    max_attempts: int = 8
    base_s: float = 30.0
    max_s: float = 3600.0

    def nominal_delay(self, attempts: int) -> float:
        """The un-jittered wait after ``attempts`` failed attempts."""
        return min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))

    def next_delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait before the next attempt after ``attempts`` failures; ``None``: give up."""
        if attempts >= self.max_attempts:
            return None
        nominal = self.nominal_delay(attempts)
        return nominal / 2 + rng() * nominal / 2
