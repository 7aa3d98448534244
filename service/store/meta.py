"""Key-value facts about the database itself."""

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.store.tables import MetaRow


async def get_meta(conn: AsyncConnection, key: str) -> str | None:
    return await conn.scalar(select(MetaRow.value).where(MetaRow.key == key))


async def set_meta(conn: AsyncConnection, key: str, value: str) -> None:
    await conn.execute(delete(MetaRow).where(MetaRow.key == key))
    await conn.execute(insert(MetaRow).values(key=key, value=value))
