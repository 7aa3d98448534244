"""The per-client token bucket: burst, refill, Retry-After, and bounded memory."""

import pytest

from service.config import Settings
from service.security.rate_limit import RateDecision, RateLimiter, bucket_key
from service.security.scopes import ScopeSet
from service.security.tokens import Caller


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(per_minute: int = 60, burst: int = 5, max_buckets: int = 100) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(per_minute, burst, max_buckets=max_buckets, clock=clock), clock


def test_a_burst_is_allowed_then_limited() -> None:
    rate, _ = limiter(burst=5)
    assert [rate.check("a").allowed for _ in range(6)] == [True] * 5 + [False]


def test_tokens_refill_at_the_per_minute_rate() -> None:
    rate, clock = limiter(per_minute=60, burst=2)
    rate.check("a")
    rate.check("a")
    assert not rate.check("a").allowed
    clock.now += 1.0
    assert rate.check("a").allowed
    assert not rate.check("a").allowed
    clock.now += 10.0  # refill stops at the burst size
    assert [rate.check("a").allowed for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    ("per_minute", "elapsed", "retry_after"),
    [(60, 0.0, 1), (6, 0.0, 10), (6, 4.0, 6), (6, 9.5, 1), (1, 0.0, 60), (600, 0.0, 1)],
)
def test_retry_after_is_the_whole_seconds_until_the_next_token(
    per_minute: int, elapsed: float, retry_after: int
) -> None:
    rate, clock = limiter(per_minute=per_minute, burst=1)
    assert rate.check("a") == RateDecision(True, 0)
    clock.now += elapsed
    assert rate.check("a") == RateDecision(False, retry_after)


def test_a_denied_request_does_not_use_up_tokens() -> None:
    rate, clock = limiter(per_minute=60, burst=1)
    rate.check("a")
    for _ in range(100):
        assert not rate.check("a").allowed
    clock.now += 1.0
    assert rate.check("a").allowed


def test_clients_have_their_own_buckets() -> None:
    rate, _ = limiter(burst=1)
    assert rate.check("a").allowed
    assert not rate.check("a").allowed
    assert rate.check("b").allowed


def test_idle_buckets_that_have_refilled_are_dropped() -> None:
    rate, clock = limiter(per_minute=60, burst=5)
    for key in ("a", "b", "c"):
        rate.check(key)
    assert len(rate) == 3
    clock.now += 5.0  # five tokens at one a second: every bucket is full again
    rate.check("d")
    assert len(rate) == 1


def test_buckets_not_yet_refilled_are_kept() -> None:
    rate, clock = limiter(per_minute=60, burst=5)
    rate.check("a")
    clock.now += 0.5
    rate.check("b")
    assert len(rate) == 2


def test_memory_is_bounded_by_evicting_the_least_recently_used() -> None:
    rate, _ = limiter(burst=1, max_buckets=3)
    for key in ("a", "b", "c"):
        rate.check(key)
    rate.check("a")  # a is now the most recent
    rate.check("d")
    assert len(rate) == 3
    assert not rate.check("a").allowed  # a kept its empty bucket
    assert rate.check("b").allowed  # b was evicted and starts afresh
    for number in range(10_000):
        rate.check(f"spray-{number}")
    assert len(rate) == 3


def test_settings_build_the_limiter_or_none() -> None:
    assert RateLimiter.from_settings(Settings(rate_limit_per_minute=0)) is None
    assert isinstance(RateLimiter.from_settings(Settings(rate_limit_per_minute=120, rate_limit_burst=10)), RateLimiter)


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (60, 0), (-1, 5)])
def test_limits_must_be_positive(per_minute: int, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_minute, burst)


def _caller(client_id: str | None, subject: str | None) -> Caller:
    return Caller(subject, client_id, None, ScopeSet.empty(), None, "iss", None, True)


def test_bucket_key_prefers_client_then_subject_then_address() -> None:
    assert bucket_key(_caller("ehr", "user-1"), "10.0.0.1") == "client:ehr"
    assert bucket_key(_caller(None, "user-1"), "10.0.0.1") == "sub:user-1"
    assert bucket_key(None, "10.0.0.1") == "addr:10.0.0.1"
    assert bucket_key(None, None) == "addr:unknown"
    assert bucket_key(Caller.local_unauthenticated(), "127.0.0.1") == "addr:127.0.0.1"
    # A client named like an address does not share that address's bucket.
    assert bucket_key(_caller("10.0.0.1", None), None) != bucket_key(None, "10.0.0.1")
