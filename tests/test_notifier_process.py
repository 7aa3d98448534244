"""The notifier `dyad serve` runs beside its server is restarted whenever it exits early, and
stopped (not restarted) with the server."""

import subprocess
import sys

import pytest

from service import notifier_process
from service.notifier_process import NotifierProcess
from tests.polling import until

QUICK_FAILURE = [sys.executable, "-c", "import sys; sys.exit(3)"]
RUNS_ON = [sys.executable, "-c", "import time; time.sleep(600)"]


def _starter(commands: list[list[str]]) -> tuple[list[subprocess.Popen[bytes]], object]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(commands[min(len(started), len(commands) - 1)])
        started.append(process)
        return process

    return started, start


async def test_a_notifier_that_exits_is_started_again_until_one_stays_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifier_process, "FIRST_DELAY", 0.05)
    started, start = _starter([QUICK_FAILURE, QUICK_FAILURE, RUNS_ON])
    notifier = NotifierProcess(start)  # type: ignore[arg-type]
    try:
        await until(lambda: len(started) == 3 and started[-1].poll() is None)
        assert notifier.restarts == 2 and notifier.process is started[-1]
    finally:
        notifier.stop()
    assert all(p.poll() is not None for p in started)


async def test_stopping_the_server_stops_its_notifier_and_starts_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifier_process, "FIRST_DELAY", 0.05)
    started, start = _starter([RUNS_ON])
    notifier = NotifierProcess(start)  # type: ignore[arg-type]
    notifier.stop()
    assert len(started) == 1 and started[0].poll() is not None
    assert notifier.restarts == 0
