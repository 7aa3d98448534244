"""A fresh PostgreSQL database per run, dropped afterwards."""

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

ADMIN_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
# Every database the bench makes starts with this, so sessions sharing one server can tell theirs apart.
DATABASE_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "dyad_bench_")


def admin(statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def sqlalchemy_url(name: str) -> str:
    rest = ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{rest}/{name}"


@contextmanager
def fresh_database() -> Iterator[str]:
    """Yield the SQLAlchemy URL of a new, empty database; drop it on the way out."""
    name = f"{DATABASE_PREFIX}{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield sqlalchemy_url(name)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
