"""Fixtures shared by every test: a real database of each kind, and the real app over ASGI.

Every storage-touching test runs twice, on SQLite and on PostgreSQL. PostgreSQL comes from
DYAD_TEST_POSTGRES_URL (default: the local server); under CI=true a missing server fails the run.
Each test gets its own database, copied from a template that was migrated and had `profiles/`
loaded once per session, so no test sees another's rows and none pays for the load again.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from bench.notify_receiver import Receiver
from service.app import create_app
from service.config import Settings
from service.store.database import Database

# Each test starts the app again: a collection at every start would cost more than it saves.
os.environ.setdefault("DYAD_GC_FREEZE_AFTER_START", "false")
# Subscription tests deliver to receivers on loopback, which production refuses by default.
os.environ.setdefault("DYAD_NOTIFY_ALLOWED_HOSTS", '["127.0.0.1", "localhost"]')

POSTGRES_URL = os.environ.get("DYAD_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _postgres_admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_plain_dsn(POSTGRES_URL), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


async def _start_once(url: str) -> None:
    """Run the app's start-up (migrations, profile load) against url, then let go of it."""
    app = create_app(Settings(database_url=url, auth="off"))
    async with app.router.lifespan_context(app):
        pass


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "dyad.sqlite3"
    asyncio.run(_start_once(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    try:
        _postgres_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"dyad_tmpl_{uuid.uuid4().hex[:10]}"
    _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        asyncio.run(_start_once(_with_database(POSTGRES_URL, name)))
        yield name
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "dyad.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"dyad_t_{uuid.uuid4().hex[:12]}"
    _postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests fire requests faster than any client should; the limiter has tests of its own.
    return Settings(database_url=database_url, auth="off", rate_limit_per_minute=0)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, lifespan and all, over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyad.test") as http:
            yield http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP endpoint on loopback that records what is posted to it (subscription tests)."""
    endpoint = Receiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()
