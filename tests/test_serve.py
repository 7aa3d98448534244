"""`dyad serve` says where it listens, and says plainly why it cannot start."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READY = "Dyad listening on "


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DYAD_")}
    return {**clean, "DYAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dyad.sqlite3'}", **settings}


def _serve(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """A `dyad serve` that is expected to refuse to start: it must end by itself."""
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", *args]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=_env(tmp_path, **settings), timeout=120
    )


def _log_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """A real `dyad serve --port 0` (auth off explicitly); yields its log once it says it listens."""
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT,
            env=_env(tmp_path, DYAD_AUTH="off"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while READY not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield log_path
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_one_line_says_address_database_auth_and_guide(running: Path) -> None:
    ready = [line for line in _log_lines(running) if str(line["event"]).startswith(READY)]
    assert len(ready) == 1
    event = str(ready[0]["event"])
    assert event.startswith(f"{READY}http://127.0.0.1:")
    assert "/fhir (database sqlite " in event
    assert "auth off" in event
    resources = int(event.split("; ")[-1].split(" ")[0])
    assert resources > 100


def test_every_log_line_is_formatted(running: Path) -> None:
    events = [str(line["event"]) for line in _log_lines(running)]
    assert events
    assert not [e for e in events if "%s" in e or "%d" in e]


def test_a_busy_port_is_named_and_ends_the_process(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _serve(tmp_path, "--port", str(port), DYAD_AUTH="off")
    assert result.returncode != 0
    assert f"address 127.0.0.1:{port} already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_jwt_without_a_key_source_is_one_clear_line(tmp_path: Path) -> None:
    result = _serve(tmp_path, "--port", "0", DYAD_AUTH="jwt")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "dyad: DYAD_AUTH=jwt needs DYAD_JWT_JWKS_FILE or DYAD_JWT_JWKS_URL "
        "(or DYAD_SERVE_DEV_JWKS=true for development)"
    ]


def test_a_bad_setting_names_its_variable(tmp_path: Path) -> None:
    result = _serve(tmp_path, DYAD_PORT="eighty")
    assert result.returncode == 2
    assert result.stderr.startswith("dyad: DYAD_PORT: ")
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"postgresql+asyncpg://dyad:s3cret@127.0.0.1:{closed_port}/dyad"
    result = _serve(tmp_path, "--port", "0", DYAD_AUTH="off", DYAD_DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"dyad: cannot reach the database (postgresql postgresql://dyad:***@127.0.0.1:{closed_port}/dyad)"
    )
    assert "s3cret" not in result.stderr
