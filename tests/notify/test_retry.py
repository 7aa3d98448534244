"""The retry policy: exponential, capped, jittered, and bounded by a horizon."""

from datetime import UTC, datetime, timedelta

from service.notify.retry import RetryPolicy


def policy(random_value: float) -> RetryPolicy:
    return RetryPolicy(
        initial_backoff=timedelta(seconds=1),
        max_backoff=timedelta(minutes=10),
        horizon=timedelta(hours=24),
        random=lambda: random_value,
    )


def test_delay_doubles_per_attempt_within_half_to_full_of_the_step() -> None:
    low, high = policy(0.0), policy(1.0)
    assert [low.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [high.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_delay_is_capped_even_after_very_many_attempts() -> None:
    assert policy(1.0).delay(10_000) == timedelta(minutes=10)
    assert policy(0.0).delay(10_000) == timedelta(minutes=5)


def test_gives_up_only_once_the_horizon_since_queueing_has_passed() -> None:
    queued = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert not policy(0.5).gives_up(queued, queued + timedelta(hours=23, minutes=59))
    assert policy(0.5).gives_up(queued, queued + timedelta(hours=24))
