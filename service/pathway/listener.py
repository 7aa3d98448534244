"""The pathway's ChangeListener: inside the writer's transaction, each rule that fires on a written
version is carried out by the module of its kind (service/pathway/kinds/, chosen by the rule file).
"""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.context import PathwayContext, PathwayOptions
from service.pathway.deferred import deferring
from service.pathway.earlier import prefetch_earlier, seen, transaction_of
from service.pathway.extraction import Extractor
from service.pathway.kinds import KINDS, ROUTING_KINDS
from service.pathway.kinds.persistent_concern import caregivers
from service.pathway.routing import Rule, RuleBook
from service.pathway.teams import TEAM_TYPES, forget_families, prefetch_families
from service.search.registry import SearchRegistry
from service.store.records import StoredResource
from service.store.repository import ResourceRepository

__all__ = ["PathwayListener", "PathwayOptions"]

_FIRING = "dyad_pathway_firing"
Version = tuple[str, str, int]  # (type, id, version)


@dataclass
class _Firing:
    """The rules that fire on each version of a batch, found once in `prepare` for its announcements.
    Held for one transaction only: a rolled-back version may be written again with other content."""

    transaction: Any
    rules: dict[Version, list[Rule]] = field(default_factory=dict)


def _version(change: StoredResource) -> Version:
    return change.res_type, change.res_id, change.version


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
        seen(conn, change)
        if change.content is None or change.res_type in ("AuditEvent", "Provenance"):
            return
        ctx = PathwayContext(conn, self.repository, self.registry, self.rules, self.extractor, self.options, change)
        firing = self._prepared(conn, change)
        async with self.batch(conn):
            for rule in self._firing(change.content, change.res_type) if firing is None else firing:
                await KINDS[rule.kind](ctx, rule)

    def _firing(self, content: dict[str, Any], res_type: str) -> list[Rule]:
        return [
            rule
            for rule in self.rules.for_type(res_type)
            if (self.options.rules_enabled or rule.kind not in ROUTING_KINDS) and rule.fires_on(content)
        ]

    def _prepared(self, conn: AsyncConnection, change: StoredResource) -> list[Rule] | None:
        held: _Firing | None = conn.info.get(_FIRING)
        if held is None or held.transaction is not transaction_of(conn):
            return None
        return held.rules.pop(_version(change), None)

    async def prepare(self, conn: AsyncConnection, changes: Sequence[StoredResource]) -> None:
        """Before a batch's announcements: which rules fire on each version (found once here), and
        for the rules that fire, the families of their infants (teams.prefetch_families) and the
        earlier Observations of their (infant, caregiver) pairs (earlier.py), looked up together
        rather than per entry. Only firing rules ask: the rest of a Bundle needs neither."""
        held = conn.info[_FIRING] = _Firing(transaction_of(conn))
        infants: dict[str, None] = {}  # ordered, without repeats
        pairs: list[tuple[str, str]] = []
        for change in changes:
            if change.content is None or change.res_type in ("AuditEvent", "Provenance"):
                continue
            firing = held.rules[_version(change)] = self._firing(change.content, change.res_type)
            for rule in firing:
                infant = rule.infant_of(change.content) if rule.owner_teams else None
                reference = (infant or {}).get("reference")
                if isinstance(reference, str):
                    infants[reference] = None
                if isinstance(reference, str) and rule.kind == "persistent-concern":
                    pairs += [(reference, caregiver) for caregiver in caregivers(change.content)]
        if infants and self.options.rules_enabled:
            await prefetch_families(conn, self.registry, self.repository, list(infants))
        if pairs:
            await prefetch_earlier(conn, self.registry, list(changes), pairs)

    def batch(self, conn: AsyncConnection) -> AbstractAsyncContextManager[None]:
        """A scope over announcements whose Tasks are created together at its end (deferred.py)."""
        return deferring(conn, self.repository, self.registry)
