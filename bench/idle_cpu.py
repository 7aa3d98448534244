"""`python -m bench.idle_cpu`: CPU an idle Dyad server uses, on each database.

Starts `dyad serve` (a real subprocess, this checkout's code), lets it settle, and reads the CPU
of its process tree over a quiet window: what the background work costs (the notification
worker's polls, the audit flush, the clock and statistics checks) with no request at all.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.cpu import tree_cpu_s
from bench.postgres import fresh_database
from bench.servers import free_port, running


def idle_share(url: str, settle_s: float, window_s: float, logs: Path) -> float:
    port = free_port()
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"DYAD_DATABASE_URL": url, "DYAD_LOG_LEVEL": "WARNING"}
    with running("dyad-idle", command, "/readyz", port, env, logs) as server:
        time.sleep(settle_s)
        before, began = tree_cpu_s(server.pid), time.monotonic()
        time.sleep(window_s)
        return (tree_cpu_s(server.pid) - before) / (time.monotonic() - began)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="dyad-idle-"))
    folder = Path(tempfile.mkdtemp(prefix="dyad-idle-db-"))
    try:
        sqlite = idle_share(f"sqlite+aiosqlite:///{folder / 'dyad.sqlite3'}", args.settle, args.window, logs)
        with fresh_database() as url:
            postgres = idle_share(url, args.settle, args.window, logs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"idle server CPU (cores, {args.window:g} s window): sqlite {sqlite:.3f}, postgresql {postgres:.3f}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    main()
