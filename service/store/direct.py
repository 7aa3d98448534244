"""Statements compiled once, run on the driver's own connection in one hop, outside a transaction.

A read of one resource by id is one SELECT. Through SQLAlchemy's async layer it costs far more
than the query: the statement is built and its cache key computed per call, a transaction is
opened and rolled back around it (BEGIN and ROLLBACK: two more round trips on PostgreSQL), and on
SQLite every cursor step (open, execute, fetch, close) is a hand-off to aiosqlite's thread, about
eight hand-offs per read. A single statement needs no transaction to be consistent, so here it is
compiled to SQL text once per database and sent as one call of the driver (asyncpg's `fetchrow`,
aiosqlite's `execute_fetchall`): one round trip, one hand-off.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class DirectStatement:
    """One SELECT's SQL for one dialect, with the conversions SQLAlchemy would apply."""

    sql: str
    names: tuple[str, ...]  # parameters in the order the SQL takes them
    defaults: Mapping[str, Any]  # values fixed when the statement was built (constants)
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]  # per column; None: as the driver hands it over

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = values[name] if name in values else self.defaults[name]
            out.append(process(value) if process is not None else value)
        return out

    def row(self, raw: Any) -> tuple[Any, ...]:
        return tuple(value if p is None else p(value) for p, value in zip(self.results, raw, strict=True))


def compile_direct(statement: Select[Any], dialect: Dialect, *, raw: Collection[str] = ()) -> DirectStatement:
    """The statement as SQL text for `dialect`; columns named in `raw` come back unconverted
    (e.g. a JSON column as the text the database holds)."""
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise ValueError(f"{dialect.name} does not take positional parameters")
    names = tuple(compiled.positiontup)
    defaults = {name: compiled.binds[name].value for name in names}
    binds = tuple(compiled.binds[name].type._cached_bind_processor(dialect) for name in names)
    results = tuple(
        None if column.key in raw else column.type._cached_result_processor(dialect, None)
        for column in statement.selected_columns
    )
    return DirectStatement(compiled.string, names, defaults, binds, results)
