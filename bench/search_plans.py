"""`python -m bench.search_plans`: PostgreSQL's plan for the bench's search, in each setting.

Loads N of the bench's Observations straight through the repository (no HTTP, no validation:
the plan is the subject), captures the statements `run_search` sends for one
`subject+code+date` search, and prints `EXPLAIN (ANALYZE, BUFFERS)` of each: before ANALYZE,
after it, and after it with the generic plan a prepared statement switches to after five runs.
A fresh database is dropped afterwards; one named by --database is kept.
"""

import argparse
import asyncio
import random
import time
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from sqlalchemy import event, text

from bench import observations as obs
from bench.postgres import fresh_database, sqlalchemy_url
from service.config import PROJECT_ROOT
from service.conformance.guide import compiled_guide
from service.search.query import parse_search
from service.store.access import Viewer
from service.store.database import Database
from service.store.migrate import migrate
from service.store.repository import NewResource, ResourceRepository
from service.store.search import SearchIndexer, run_search

BATCH = 2000
SEED = 20261121


async def load(db: Database, repository: ResourceRepository, count: int) -> list[obs.Key]:
    rng = random.Random(SEED)
    keys = obs.draw_keys(count, obs.infant_count(count), rng)
    began = time.perf_counter()
    for start in range(0, count, BATCH):
        async with db.write() as conn:
            items = [NewResource(obs.observation(k, rng)) for k in keys[start : start + BATCH]]
            await repository.create_many(conn, items, announce=False)
        if (start // BATCH) % 10 == 9:
            print(f"  {start + BATCH:>7} loaded ({time.perf_counter() - began:.0f} s)", flush=True)
    return keys


async def captured_statements(db: Database, registry: Any, path: str) -> list[tuple[str, tuple[Any, ...]]]:
    """The SQL and parameters of one search, as the server sends them."""
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, tuple(parameters)))

    resource_type, query_string = path.removeprefix("/fhir/").split("?", 1)
    query = parse_search(registry, resource_type, parse_qsl(query_string), strict=True)
    event.listen(db.read_engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.read() as conn:
            # An organisation's token, as a real client searches: the visibility clause is in the plan.
            page = await run_search(conn, registry, query, viewer=Viewer("Organization/bench-hv"))
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", capture)
    print(f"  search matched {len(page.matches)} (total {page.total})")
    return seen


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime, date)):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


async def explain(dsn: str, statement: str, parameters: tuple[Any, ...], mode: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"SET plan_cache_mode = {mode}")
        await conn.execute(f"PREPARE q AS {statement}")
        args = ", ".join(literal(p) for p in parameters)
        rows = await conn.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE q({args})" if args else "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q"
        )
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> None:
    # The database is made and dropped outside the event loop: bench.postgres runs its own.
    with nullcontext(sqlalchemy_url(args.database)) if args.database else fresh_database() as url:
        asyncio.run(main(args, url))


async def main(args: argparse.Namespace, url: str) -> None:
    guide = compiled_guide(PROJECT_ROOT / "profiles", PROJECT_ROOT / "mappings")
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    db = Database(url)
    try:
        await migrate(db)
        repository = ResourceRepository(SearchIndexer(guide.registry))
        async with db.read() as conn:
            present = int(await conn.scalar(text("SELECT count(*) FROM resource")) or 0)
        rng = random.Random(SEED)
        keys = obs.draw_keys(args.observations, obs.infant_count(args.observations), rng)
        if present < args.observations:
            keys = await load(db, repository, args.observations)
        rng = random.Random(SEED + 4)
        key = rng.choice(keys)
        path = obs.search_path(key.infant, key.assessment)
        print(f"search: {path}")
        statements = await captured_statements(db, guide.registry, path)
        # On a reused database the first phase sees whatever statistics an earlier run left.
        first = "no statistics" if present < args.observations else "statistics of an earlier run"
        phases = [(f"{first}, custom plan", "force_custom_plan", False)]
        phases += [("after ANALYZE, generic plan", "force_generic_plan", True)]
        phases += [("after ANALYZE, custom plan", "force_custom_plan", True)]
        analyzed = False
        for title, mode, analyze in phases:
            if analyze and not analyzed:
                began = time.perf_counter()
                async with db.write() as conn:
                    await conn.exec_driver_sql("ANALYZE")
                print(f"ANALYZE took {time.perf_counter() - began:.1f} s")
                analyzed = True
            for number, (statement, parameters) in enumerate(statements, 1):
                print(f"\n### {title}: statement {number}\n")
                if number == 1:
                    print(statement, parameters, "\n")
                print(await explain(dsn, statement, parameters, mode))
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.search_plans", description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--database", help="an existing database to use (loaded if it has fewer rows), kept afterwards")
    run(parser.parse_args())
