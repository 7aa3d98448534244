"""Per-client request rate limiting with token buckets.

Each client has a bucket holding up to `burst` requests, refilled at `per_minute / 60` a
second; a request takes one, and an empty bucket means 429 with Retry-After.

The buckets live in this process's memory: with several replicas (or uvicorn workers) each
one limits on its own, so a client can make up to N × the limit across N processes. That is
enough to stop one runaway integration from starving the others; a shared limit would need a
shared store.

Memory is bounded. A bucket that has been idle long enough to refill completely is the same
as no bucket, so it is dropped at no cost; if `max_buckets` is still exceeded (many distinct
keys, e.g. remote addresses of an attack), the least recently used buckets go, which at worst
gives those clients a fresh burst.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from service.config import Settings
from service.security.tokens import Caller

DEFAULT_MAX_BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int  # 0 when allowed; whole seconds (rounded up) for Retry-After


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst <= 0 or max_buckets <= 0:
            raise ValueError("per_minute, burst and max_buckets must be positive")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_buckets = max_buckets
        self._clock = clock
        # Oldest-used first, so eviction walks from the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimiter | None":
        """The limiter for these settings, or None when DYAD_RATE_LIMIT_PER_MINUTE=0."""
        if settings.rate_limit_per_minute == 0:
            return None
        return cls(settings.rate_limit_per_minute, settings.rate_limit_burst)

    def check(self, key: str) -> RateDecision:
        """Take one request from `key`'s bucket. No await inside, so it is atomic under asyncio."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        self._buckets[key] = bucket
        self._evict(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return RateDecision(True, 0)
        wait = (1.0 - bucket.tokens) / self._rate
        return RateDecision(False, max(1, math.ceil(wait)))

    def __len__(self) -> int:
        return len(self._buckets)

    def _evict(self, now: float) -> None:
        refill_seconds = self._burst / self._rate
        while self._buckets:
            oldest_key, oldest = next(iter(self._buckets.items()))
            full_again = now - oldest.updated >= refill_seconds
            if not full_again and len(self._buckets) <= self._max_buckets:
                return
            del self._buckets[oldest_key]


def bucket_key(caller: Caller | None, remote_address: str | None) -> str:
    """Which bucket a request draws on: the client, else the token subject, else the address.

    The prefixes keep a client id from sharing a bucket with an address of the same spelling.
    Requests with a missing or rejected token should be limited too, by address (caller None).
    """
    if caller is not None and caller.authenticated:
        if caller.client_id:
            return f"client:{caller.client_id}"
        if caller.subject:
            return f"sub:{caller.subject}"
    return f"addr:{remote_address or 'unknown'}"
