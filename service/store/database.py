"""Engines and transactions for SQLite (embedded default) and PostgreSQL (production)."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from service.store.direct import DirectStatement
from service.store.errors import NoConnectionFree, StatementTimedOut

QUERY_CANCELED = "57014"
# Execution option of a SQLite read connection whose statements run without BEGIN (autocommit).
_NO_BEGIN = "dyad_no_begin"  # PostgreSQL's SQLSTATE for a statement cancelled by its timeout


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """Hands out read and write transactions.

    SQLite allows one writer at a time, and a deferred transaction that later wants to write can
    fail outright instead of waiting; so writes there go through a one-connection engine that
    opens with BEGIN IMMEDIATE, and reads through a pool of their own. PostgreSQL uses one pool.

    Every pool is fixed at `pool_size`: a request waits for a free connection rather than opening
    one beyond it. With overflow, each connection past the pool was opened (a new PostgreSQL
    backend) and closed again per request: at 32 connections that churn took 40 % of the reads a
    process served (docs/benchmarks.md, 2026-12-01). A fixed pool cannot deadlock as long as no
    task holds two connections at once, which nothing in Dyad does (each acquisition goes through
    `read`, `write` or `fetch_one`, none nested: checked over the PostgreSQL suites, and a review
    found the one exception, a notification lane dropping a deleted Subscription's events, since
    changed).

    `statement_timeout` (seconds, 0: none) bounds every statement on PostgreSQL, so that a search
    nobody waits for any more cannot hold a backend for minutes.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pool_wait: float = 30.0,
        echo: bool = False,
        statement_timeout: float = 0,
    ) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            _ensure_sqlite_folder(self.url.database)
            # No rollback when a read connection goes back to the pool: every transaction on it
            # is rolled back by the connection that opened it, and `fetch_one` opens none, so
            # the reset would only cost one more hand-off to aiosqlite's thread per read.
            self.read_engine = _sqlite_engine(
                url, echo=echo, immediate=False, pool_size=pool_size, pool_wait=pool_wait, reset=False
            )
            self.write_engine = _sqlite_engine(url, echo=echo, immediate=True, pool_size=1, pool_wait=pool_wait)
        else:
            engine = create_async_engine(
                url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=pool_wait,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                connect_args={"server_settings": postgres_session_settings(statement_timeout)},
            )
            self.read_engine = self.write_engine = engine

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def read(self, *, snapshot: bool = True) -> AsyncIterator[AsyncConnection]:
        """A connection for reading. snapshot=False is for work that sends one statement (a
        search page whose total rides in it): one statement is consistent by itself, so no
        transaction is opened around it, which saves BEGIN and ROLLBACK (two round trips on
        PostgreSQL; BEGIN's three hand-offs to aiosqlite's thread on SQLite). A second statement
        on such a connection sees the database as it is then, not as the first one saw it.
        """
        with _timeouts_named():
            async with self.read_engine.connect() as conn:
                if not snapshot:
                    if self.dialect == "sqlite":
                        conn = await conn.execution_options(**{_NO_BEGIN: True})
                    else:
                        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn

    async def fetch_one(self, statement: DirectStatement, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a single SELECT, in one round trip (one hand-off on SQLite) and
        outside any transaction: one statement reads one consistent snapshot by itself."""
        parameters = statement.parameters(values)
        with _timeouts_named():
            async with self.read_engine.connect() as conn:
                driver: Any = (await conn.get_raw_connection()).driver_connection
                if self.dialect == "sqlite":
                    rows = await driver.execute_fetchall(statement.sql, parameters)
                    raw = rows[0] if rows else None
                else:
                    raw = await driver.fetchrow(statement.sql, *parameters)
        return None if raw is None else statement.row(raw)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back whole if it raises."""
        with _timeouts_named():
            async with self.write_engine.begin() as conn:
                yield conn

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


@contextmanager
def _timeouts_named() -> Iterator[None]:
    """A statement cancelled by statement_timeout, or a wait for a pooled connection that ran out,
    leaves as the store's own error, not a driver's."""
    try:
        yield
    except PoolTimeout as exc:
        raise NoConnectionFree() from exc
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
            raise StatementTimedOut() from exc
        raise
    except Exception as exc:  # the driver's own error, from a statement sent with fetch_one
        if getattr(exc, "sqlstate", None) == QUERY_CANCELED:
            raise StatementTimedOut() from exc
        raise


def postgres_session_settings(statement_timeout: float) -> dict[str, str]:
    """What every PostgreSQL session of Dyad's runs with.

    force_custom_plan: asyncpg prepares (and SQLAlchemy caches) every statement, and after five
    runs PostgreSQL may switch a prepared statement to a generic plan, chosen without the values:
    the subject, code or date asked for. Issue 16 measured such a plan scanning every row of one
    code (~1 s a search at 100,000 Observations). A custom plan costs 1-3 ms of planning per
    search (`python -m bench.search_plans`), and never picks its driver blind.
    """
    settings = {"plan_cache_mode": "force_custom_plan"}
    if statement_timeout > 0:
        settings["statement_timeout"] = str(int(statement_timeout * 1000))
    return settings


def _ensure_sqlite_folder(database: str | None) -> None:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(
    url: str, *, echo: bool, immediate: bool, pool_size: int, pool_wait: float, reset: bool = True
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_wait,
        pool_reset_on_return="rollback" if reset else None,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not immediate and conn.get_execution_options().get(_NO_BEGIN):
            return  # a single statement: its own implicit transaction is its snapshot
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
