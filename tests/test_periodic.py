"""Background jobs run on their interval and are never cancelled halfway through a run."""

import asyncio

from service.periodic import Periodic
from tests.polling import until


async def test_stop_waits_for_the_running_job_instead_of_cancelling_it() -> None:
    events: list[str] = []

    async def job() -> None:
        events.append("start")
        await asyncio.sleep(0.2)
        events.append("end")

    periodic = Periodic("test-job", job, interval=0.05)
    periodic.start()
    await until(lambda: events == ["start"])
    await periodic.stop()
    assert events == ["start", "end"]


async def test_a_failing_run_does_not_end_the_job() -> None:
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("boom")

    periodic = Periodic("test-failing", job, interval=0.01)
    periodic.start()
    await until(lambda: runs >= 3)
    await periodic.stop()
    assert runs >= 3


async def test_interval_zero_never_starts() -> None:
    async def job() -> None:
        raise AssertionError("must not run")

    periodic = Periodic("test-off", job, interval=0)
    periodic.start()
    await periodic.stop()
