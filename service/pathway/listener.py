"""The pathway's ChangeListener: inside the writer's transaction, each rule that fires on a written
version is carried out by the module of its kind (service/pathway/kinds/, chosen by the rule file).
"""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.context import PathwayContext, PathwayOptions
from service.pathway.deferred import deferring
from service.pathway.extraction import Extractor
from service.pathway.kinds import KINDS, ROUTING_KINDS
from service.pathway.routing import RuleBook
from service.pathway.teams import TEAM_TYPES, forget_families, prefetch_families
from service.search.registry import SearchRegistry
from service.store.records import StoredResource
from service.store.repository import ResourceRepository

__all__ = ["PathwayListener", "PathwayOptions"]


class PathwayListener:
    def __init__(
        self, registry: SearchRegistry, rules: RuleBook, extractor: Extractor, options: PathwayOptions
    ) -> None:
        unknown = sorted({r.kind for r in rules.rules} - KINDS.keys())
        if unknown:
            raise ValueError(f"The rule file names kinds of rule Dyad does not carry out: {unknown}")
        self.registry = registry
        self.rules = rules
        self.extractor = extractor
        self.options = options
        self._repository: ResourceRepository | None = None

    def bind(self, repository: ResourceRepository) -> None:
        self._repository = repository

    @property
    def repository(self) -> ResourceRepository:
        assert self._repository is not None, "bind() first"
        return self._repository

    async def __call__(self, conn: AsyncConnection, change: StoredResource) -> None:
        if change.res_type in TEAM_TYPES:
            forget_families(conn)
        if change.content is None or change.res_type in ("AuditEvent", "Provenance"):
            return
        ctx = PathwayContext(conn, self.repository, self.registry, self.rules, self.extractor, self.options, change)
        async with self.batch(conn):
            for rule in self.rules.for_type(change.res_type):
                if rule.kind in ROUTING_KINDS and not self.options.rules_enabled:
                    continue
                if rule.fires_on(change.content):
                    await KINDS[rule.kind](ctx, rule)

    async def prepare(self, conn: AsyncConnection, changes: Sequence[StoredResource]) -> None:
        """Before a batch's announcements: the families of every infant its rules may route work
        for, looked up together (teams.prefetch_families) rather than per infant."""
        if not self.options.rules_enabled:
            return
        infants: list[str] = []
        for change in changes:
            for rule in self.rules.for_type(change.res_type) if change.content is not None else ():
                infant = rule.infant_of(change.content) if rule.owner_teams else None  # type: ignore[arg-type]
                reference = (infant or {}).get("reference")
                if isinstance(reference, str) and reference not in infants:
                    infants.append(reference)
        if infants:
            await prefetch_families(conn, self.registry, self.repository, infants)

    def batch(self, conn: AsyncConnection) -> AbstractAsyncContextManager[None]:
        """A scope over announcements whose Tasks are created together at its end (deferred.py)."""
        return deferring(conn, self.repository, self.registry)
