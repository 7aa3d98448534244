"""A real `dyad serve` process on a free port, on each database."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningServer:
    base: str
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[bytes], log_path: Path, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready in time:\n{log_path.read_text()}")


def start_dyad(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m service <args>` as users start it, its output in log_path."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_dyad(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_server(
    env: dict[str, str], log_path: Path, *, extra: tuple[str, ...] = (), within: float = 60
) -> tuple[subprocess.Popen[bytes], str]:
    """A `dyad serve` on a free port, once it answers /readyz; returns it and its base URL.

    `within`: several processes each compiling the guide on a shared 2-core machine need longer.
    """
    port = _free_port()
    process = start_dyad(["serve", "--host", "127.0.0.1", "--port", str(port), *extra], env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log_path, within)
    except BaseException:
        stop_dyad(process)
        raise
    return process, base


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra DYAD_* settings for the server process; a test module overrides this fixture."""
    return {}


@pytest.fixture
def server(database_url: str, tmp_path: Path, server_env: dict[str, str]) -> Iterator[RunningServer]:
    port = _free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "DYAD_DATABASE_URL": database_url, "DYAD_LOG_LEVEL": "INFO", "DYAD_AUTH": "off", **server_env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log_path)
        yield RunningServer(base, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
