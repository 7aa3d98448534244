"""When to try a failed notification again, and when to give up on it."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    initial_backoff: timedelta
    max_backoff: timedelta
    horizon: timedelta  # measured from when the event was queued
    random: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempts: int) -> timedelta:
        """Exponential in the attempts made so far, capped, with jitter.

        "Equal jitter" (half fixed, half random) keeps a floor under the wait while spreading the
        retries of many lanes whose endpoint failed at the same moment.
        """
        exponent = min(max(attempts - 1, 0), 60)  # 2**60 seconds already exceeds any cap
        step = min(self.initial_backoff.total_seconds() * 2.0**exponent, self.max_backoff.total_seconds())
        return timedelta(seconds=step / 2 + step / 2 * self.random())

    def gives_up(self, created_at: datetime, now: datetime) -> bool:
        return now - created_at >= self.horizon
