"""Servers under test as real subprocesses: one uvicorn worker each, stopped whatever happens."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300.0  # several workers each compile the guide; the machine is shared


@dataclass(frozen=True)
class Server:
    name: str
    pid: int
    base_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn_command(app: str, port: int) -> list[str]:
    """The peers run under the same uvicorn settings `dyad serve` uses: one worker, no access log."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def dyad_command(port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready at {url} after {READY_TIMEOUT_S:.0f} s; see {log_path}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful stop) to the process group we made, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running(
    name: str, command: list[str], ready_path: str, port: int, env: dict[str, str], log_dir: Path
) -> Iterator[Server]:
    """Start `command` in its own process group, yield once `ready_path` answers 200, always stop it."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_ready(proc, base_url + ready_path, log_path)
            yield Server(name, proc.pid, base_url)
        finally:
            _stop(proc)


def wait_idle(server: Server, path: str, *, quick_ms: float = 100.0, limit_s: float = 300.0) -> float:
    """Wait until the server answers `path` quickly twice running: a load client that stopped
    leaves requests queued in the server, and the next measurement must not inherit them."""
    began = time.monotonic()
    quick_in_a_row = 0
    with httpx.Client(base_url=server.base_url, timeout=limit_s) as client:
        while quick_in_a_row < 2 and time.monotonic() - began < limit_s:
            sent = time.perf_counter()
            client.get(path)
            quick_in_a_row = quick_in_a_row + 1 if (time.perf_counter() - sent) * 1e3 < quick_ms else 0
            time.sleep(0.05)
    return time.monotonic() - began
