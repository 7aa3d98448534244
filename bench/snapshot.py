"""A loaded bench database kept between runs, so a 100,000-Observation run fits in one sitting.

Loading 100,000 Observations through the API takes 10–20 minutes per database on the shared
2-core machine. The bench therefore loads the first N − tail Observations through the API once
(the same 1,000-entry transaction Bundles a run would post, to the real server), stops the server,
and keeps a copy of the database: a PostgreSQL template database (`CREATE DATABASE ... TEMPLATE`)
or a copy of the SQLite file. A later run with the same data starts from a copy of that copy and
posts the remaining tail Bundles through the API, timing each: those are the transaction figure.

A snapshot is keyed by what decides its contents: the backend, N, the Bundles it holds, a hash of
every body those Bundles post (`bench.dataset.fingerprint`) and the schema's migration head. It is NOT keyed by the
rest of the server's code, so a snapshot may have been written by older code; `check_index_rows`
compares the index rows the snapshot's first Observations have with those of the tail the current
code wrote, and the bench reports any difference (rebuild with `--fresh-load`).
"""

import asyncio
import hashlib
import json
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from alembic.script import ScriptDirectory

from bench.postgres import ADMIN_DSN, DATABASE_PREFIX, admin
from service.store.migrate import alembic_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_DIR = PROJECT_ROOT / "var" / "bench-snapshots"  # var/ is gitignored
INDEX_TABLES = (
    "search_token",
    "search_string",
    "search_date",
    "search_reference",
    "search_number",
    "search_quantity",
    "search_uri",
)
SAMPLE = 200  # Observations compared at each end by check_index_rows


def schema_head() -> str:
    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def code_commit() -> str:
    """The commit the snapshot's Observations were written by (`+dirty` for uncommitted changes)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "service"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


@dataclass
class Snapshot:
    backend: str
    observations: int  # N, the run's whole data set
    bundles: int  # the first Bundles of it the snapshot holds
    data: str  # `bench.dataset.fingerprint` of what those Bundles post
    key: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        raw = f"{self.backend}-{self.observations}-{self.bundles}-{self.data}-{schema_head()}"
        self.key = hashlib.sha256(raw.encode()).hexdigest()[:12]

    @property
    def sidecar(self) -> Path:
        return SNAPSHOT_DIR / f"{self.backend}-{self.observations}-{self.key}.json"

    @property
    def sqlite_file(self) -> Path:
        return SNAPSHOT_DIR / f"{self.backend}-{self.observations}-{self.key}.sqlite3"

    @property
    def template(self) -> str:
        return f"{DATABASE_PREFIX}snap_{self.key}"

    def exists(self) -> bool:
        if not self.sidecar.exists():
            return False
        self.meta = json.loads(self.sidecar.read_text())
        if self.backend == "sqlite":
            return self.sqlite_file.exists()
        return _database_exists(self.template)

    def restore(self, url: str) -> None:
        """Fill the empty database at `url` (just created, nobody connected) from the snapshot."""
        if self.backend == "sqlite":
            shutil.copyfile(self.sqlite_file, _sqlite_path(url))
            return
        name = url.rsplit("/", 1)[1]
        admin(f'DROP DATABASE IF EXISTS "{name}"')
        # FILE_COPY: one checkpoint and a copy of the files, not every block through the WAL.
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY = FILE_COPY')

    def save(self, url: str, meta: dict[str, Any]) -> None:
        """Keep the database at `url` (its server stopped) as this snapshot, with what the run needs."""
        SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
        if self.backend == "sqlite":
            # The backup API copies a consistent image whatever the WAL holds.
            with sqlite3.connect(_sqlite_path(url)) as source, sqlite3.connect(self.sqlite_file) as target:
                source.backup(target)
        else:
            name = url.rsplit("/", 1)[1]
            admin(f'DROP DATABASE IF EXISTS "{self.template}"')
            admin(f'CREATE DATABASE "{self.template}" TEMPLATE "{name}" STRATEGY = FILE_COPY')
        # `meta` names the commit the server ran (taken when the load began: HEAD may move meanwhile).
        self.meta = {"commit": code_commit(), **meta, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.sidecar.write_text(json.dumps(self.meta))


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def _database_exists(name: str) -> bool:
    async def run() -> bool:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(run())


# --- is the snapshot what the current code would have written? ------------------------------


def _index_rows_sql(order: str) -> str:
    """Index rows per table of the first (ASC) or last (DESC) SAMPLE Observations, by resource pk."""
    picked = f"SELECT pk FROM resource WHERE res_type = 'Observation' ORDER BY pk {order} LIMIT {SAMPLE}"
    return " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t} WHERE resource_pk IN ({picked})" for t in INDEX_TABLES)


def index_rows(url: str) -> dict[str, dict[str, int]]:
    """{"first": {table: rows}, "last": {table: rows}} for the first and last Observations stored."""
    out: dict[str, dict[str, int]] = {}
    if url.startswith("sqlite"):
        with sqlite3.connect(_sqlite_path(url)) as conn:
            for end, order in (("first", "ASC"), ("last", "DESC")):
                out[end] = {str(t): int(n) for t, n in conn.execute(_index_rows_sql(order))}
        return out

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            for end, order in (("first", "ASC"), ("last", "DESC")):
                out[end] = {str(r[0]): int(r[1]) for r in await conn.fetch(_index_rows_sql(order))}
        finally:
            await conn.close()

    asyncio.run(run())
    return out


def check_index_rows(url: str) -> str | None:
    """None when the snapshot's first Observations carry the same index rows, table by table, as the
    tail the current code just wrote (every bench Observation has the same shape); else what differs."""
    rows = index_rows(url)
    if rows["first"] == rows["last"]:
        return None
    return f"index rows of the first {SAMPLE} Observations {rows['first']} differ from the last {SAMPLE} {rows['last']}"
