"""Apply Alembic migrations to the configured database."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from service.store.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(db: Database) -> None:
    """Bring the schema to the newest revision; safe to run at every start."""
    async with db.write_engine.begin() as conn:
        if db.is_postgres:  # a migration may rewrite a big table: no request-sized timeout here
            await conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        await conn.run_sync(_upgrade)
