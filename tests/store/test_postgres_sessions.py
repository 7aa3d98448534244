"""Every PostgreSQL session plans each statement for its values and has a bounded run time."""

import pytest
from sqlalchemy import text

from service.api.errors import status_and_issues
from service.store.database import Database
from service.store.errors import StatementTimedOut


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_sessions_use_custom_plans_and_the_statement_timeout(database_url: str) -> None:
    db = Database(database_url, statement_timeout=2.5)
    try:
        async with db.read() as conn:
            plan_mode = await conn.scalar(text("SHOW plan_cache_mode"))
            timeout = await conn.scalar(text("SHOW statement_timeout"))
    finally:
        await db.dispose()
    assert (plan_mode, timeout) == ("force_custom_plan", "2500ms")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_statement_past_the_timeout_is_cancelled_as_the_stores_error(database_url: str) -> None:
    db = Database(database_url, statement_timeout=0.05)
    try:
        with pytest.raises(StatementTimedOut):
            async with db.read() as conn:
                await conn.execute(text("SELECT pg_sleep(5)"))
        async with db.read() as conn:  # the pool is still usable afterwards
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


def test_a_timed_out_statement_answers_503_too_costly() -> None:
    status, issues = status_and_issues(StatementTimedOut())
    assert (status, issues[0].code) == (503, "too-costly")
