"""The `dyad notify-worker` process `dyad serve` runs beside its server on PostgreSQL, kept running.

The server's own delivery is off while this process delivers, so a notifier that dies (killed,
out of memory, a failed start against a database that blinked) would leave every notification
waiting in the outbox with nothing to send it. A watch thread restarts it until the server stops,
waiting longer between quick failures, and says so in the log each time.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("dyad.serve")

FIRST_DELAY = 1.0
LONGEST_DELAY = 30.0
STEADY_SECONDS = 60.0  # a notifier that ran this long failed afresh: start again from FIRST_DELAY


def start_notify_worker() -> subprocess.Popen[bytes]:
    env = {**os.environ, "DYAD_NOTIFY_WORKER_ENABLED": "true"}
    return subprocess.Popen([sys.executable, "-m", "service", "notify-worker"], env=env)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class NotifierProcess:
    def __init__(self, start: Callable[[], subprocess.Popen[bytes]]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.process = start()
        self.restarts = 0
        self._watch = threading.Thread(target=self._keep_running, name="dyad-notifier-watch", daemon=True)
        self._watch.start()

    def _keep_running(self) -> None:
        delay = FIRST_DELAY
        while True:
            began = time.monotonic()
            code = self.process.wait()
            if self._stopping.is_set():
                return
            delay = FIRST_DELAY if time.monotonic() - began >= STEADY_SECONDS else delay
            log.error("notify worker exited; restarting it", extra={"exit_code": code, "after_seconds": delay})
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, LONGEST_DELAY)
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self._start()
                self.restarts += 1

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self.process
        stop_process(process)
        self._watch.join(timeout=5)
