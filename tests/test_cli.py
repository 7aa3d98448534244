"""`dyad <command>` and `python -m service <command>` are the same program."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from service.cli import build_parser
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYAD_DATABASE_URL": database_url}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_parser_knows_serve_and_migrate() -> None:
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9001"])
    assert (args.host, args.port) == ("0.0.0.0", 9001)
    assert build_parser().parse_args(["migrate"]).command == "migrate"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_migrate_works_the_same_through_the_console_script_and_python_m(database_url: str) -> None:
    dyad = Path(sys.executable).with_name("dyad")
    by_script = _run([str(dyad), "migrate"], database_url)
    by_module = _run([sys.executable, "-m", "service", "migrate"], database_url)
    assert by_script.returncode == 0, by_script.stderr
    assert by_module.returncode == 0, by_module.stderr
    assert by_script.stdout == by_module.stdout != ""


def test_unknown_command_fails_with_usage() -> None:
    result = subprocess.run([sys.executable, "-m", "service", "frobnicate"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "usage: dyad" in result.stderr


def test_serve_runs_uvicorn_on_uvloop_and_httptools() -> None:
    from service.serve import uvicorn_config

    for config in (uvicorn_config(FastAPI()), uvicorn_config("service.app:create_app", workers=2)):
        assert (config.loop, config.http) == ("uvloop", "httptools")


def test_several_workers_need_postgresql() -> None:
    env = {**os.environ, "DYAD_DATABASE_URL": "sqlite+aiosqlite:///var/never.sqlite3", "DYAD_AUTH": "off"}
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr


def test_workers_leave_migrations_and_delivery_to_the_processes_beside_them() -> None:
    from service.serve import worker_environment

    settings = Settings(database_url="postgresql+asyncpg://unused/unused")
    assert worker_environment(settings) == {"DYAD_MIGRATE_ON_START": "false", "DYAD_NOTIFY_WORKER_ENABLED": "false"}
