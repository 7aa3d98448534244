"""The guides in docs/guides/ run as written, against a real server started as the guide starts it.

Each guide's ```sh and ```python blocks are run in order in one bash session (a Python block as
the venv's python reading the block from standard input), so what one block exports the next
sees. The block that starts `dyad serve` is not run: the server fixture starts the same command
with the same DYAD_* settings on a free port, and the guide's port is replaced by that one.
"""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
GUIDE_PORT = "127.0.0.1:8080"

pytestmark = pytest.mark.e2e


def blocks(guide: Path) -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in BLOCK.findall(guide.read_text())]


def serve_settings(guide: Path) -> dict[str, str]:
    """The DYAD_* assignments in front of the guide's `dyad serve` command."""
    starts = [body for kind, body in blocks(guide) if kind == "sh" and " serve" in body and "dyad" in body]
    if not starts:
        return {}
    words = shlex.split(starts[0].split("\n")[0])
    return dict(word.split("=", 1) for word in words if "=" in word and word.startswith("DYAD_"))


def script(guide: Path, address: str) -> str:
    parts = ["set -euo pipefail"]
    for kind, body in blocks(guide):
        if kind == "sh" and " serve" in body and "dyad" in body:
            continue
        body = body.replace(GUIDE_PORT, address)
        parts.append(body if kind == "sh" else f".venv/bin/python - <<'PYTHON'\n{body}PYTHON")
    return "\n".join(parts) + "\n"


@pytest.fixture(params=["sqlite"], ids=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=GUIDES, ids=[g.stem for g in GUIDES])
def guide(request: pytest.FixtureRequest) -> Path:
    return Path(request.param)


@pytest.fixture
def dev_key(tmp_path: Path) -> Path:
    return tmp_path / "dev-signing-key.pem"


@pytest.fixture
def server_env(guide: Path, dev_key: Path) -> dict[str, str]:
    return {**serve_settings(guide), "DYAD_DEV_KEY_FILE": str(dev_key)}


def test_every_guide_is_found() -> None:
    assert {g.stem for g in GUIDES} >= {"ehr-integrators", "health-visiting-apps", "integration-engineers"}


def test_the_guide_runs_as_written(guide: Path, server: RunningServer, dev_key: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "reader"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(Path(sys.executable).parents[1])
    # A copy, not a link: a guide may change what it is given (the profile guide adds a file).
    shutil.copytree(ROOT / "profiles", workdir / "profiles")
    (workdir / "mappings").symlink_to(ROOT / "mappings")
    address = server.base.removeprefix("http://")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "DYAD_DEV_KEY_FILE": str(dev_key)}
    done = subprocess.run(
        ["bash", "-c", script(guide, address)], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{guide.name} failed:\n{done.stdout}\n{done.stderr}\n{server.logs()[-4000:]}"
