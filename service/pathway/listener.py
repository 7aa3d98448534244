"""The pathway's ChangeListener: inside the writer's transaction, do what a written version sets off.

- a completed prompts QuestionnaireResponse → its relationship Observations (when enabled);
- any resource a routing rule is on → the rule's Task, once per (task, cause, owner);
- a referral Task version → the state machine checked (409 refuses the whole write), the
  referral's status kept in step, the pathway clocks moved;
- a finished intervention-session Encounter → the plan's sessions attended recounted.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway import care_plans, referrals
from service.pathway.clock_store import clocks_of, save_clock
from service.pathway.clocks import task_clocks
from service.pathway.derived import create_once, record_derivation
from service.pathway.extraction import Extractor, extractable
from service.pathway.routing import Rule, RuleBook
from service.pathway.teams import TEAM_TYPES, forget_families, team_of
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.search.values import parse_instant
from service.store.records import StoredResource
from service.store.repository import ResourceRepository
from service.store.search import run_search


@dataclass(frozen=True)
class PathwayOptions:
    rules_enabled: bool = True
    extract_on_write: bool = False


class PathwayListener:
    def __init__(self, registry: SearchRegistry, rules: RuleBook, extractor: Extractor, options: PathwayOptions) -> None:
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
        resource = change.content
        if resource is None or change.res_type in ("AuditEvent", "Provenance"):
            return
        if change.res_type == "Task" and referrals.is_referral_task(resource):
            await self._referral_task_moved(conn, change, resource)
        if change.res_type == "QuestionnaireResponse" and self.options.extract_on_write and extractable(resource):
            await self._extract(conn, change, resource)
        if change.res_type == "Encounter" and care_plans.is_session(resource):
            await self._count_sessions(conn, change, resource)
        if self.options.rules_enabled:
            for rule in self.rules.for_type(change.res_type):
                if rule.fires_on(resource):
                    await self._apply(conn, change, resource, rule)

    # -- routing rules ---------------------------------------------------------------------

    async def _apply(self, conn: AsyncConnection, change: StoredResource, resource: dict[str, Any], rule: Rule) -> None:
        infant = rule.infant_of(resource)
        if infant is None:
            return
        now = datetime.now(timezone.utc)
        trigger = f"{change.res_type}/{change.res_id}"
        for owner, due, contact in await self._owners(conn, rule, resource, infant, now):
            task_code = rule.template["code"]["coding"][0]["code"]
            key = f"{task_code}:{trigger}:{owner['reference']}"
            task = rule.task(resource, {
                "key": key, "trigger": trigger, "infant": infant, "owner": owner, "due": due,
                "contact": contact, "now": now.isoformat(timespec="seconds"),
            })
            await create_once(conn, self.repository, self.registry, task, change)

    async def _owners(
        self, conn: AsyncConnection, rule: Rule, resource: dict[str, Any], infant: dict[str, Any], now: datetime
    ) -> list[tuple[dict[str, Any], str, dict[str, Any] | None]]:
        """(owner, due date, contact) for each owner the rule finds; a team the data does not name is skipped."""
        found: list[tuple[dict[str, Any], str, dict[str, Any] | None]] = []
        for kind in rule.owner_teams:
            team = self.rules.teams[kind]
            owner = await team_of(conn, self.registry, self.repository, infant["reference"], team)
            if owner is None:
                continue
            birth = await self._birth_date(conn, infant["reference"])
            when, contact = team.next_contact(birth, now.date())
            coding = None
            if contact is not None:
                coding = {
                    "system": "https://w3id.org/dyad/fhir/CodeSystem/dyad-care-contacts",
                    "code": contact.code, "display": contact.display,
                }
            found.append((owner, when.isoformat(), coding))
        for owner in rule.owners_on(resource):
            found.append(({"reference": owner["reference"]}, rule.due_after(resource, now).isoformat(), None))
        return found

    async def _birth_date(self, conn: AsyncConnection, infant: str) -> Any:
        res_type, _, res_id = infant.partition("/")
        stored = await self.repository.read_many(conn, [(res_type, res_id)])
        content = stored[(res_type, res_id)].content if (res_type, res_id) in stored else None
        birth = (content or {}).get("birthDate")
        return datetime.fromisoformat(birth).date() if isinstance(birth, str) and len(birth) == 10 else None

    # -- extraction --------------------------------------------------------------------------

    async def _extract(self, conn: AsyncConnection, change: StoredResource, response: dict[str, Any]) -> None:
        source = f"QuestionnaireResponse/{change.res_id}"
        for observation in self.extractor.observations(response, source):
            await create_once(conn, self.repository, self.registry, observation, change)

    # -- referral lifecycle and clocks -----------------------------------------------------

    async def _referral_task_moved(self, conn: AsyncConnection, change: StoredResource, task: dict[str, Any]) -> None:
        before = None
        if change.version > 1:
            before = (await self.repository.vread(conn, "Task", change.res_id, change.version - 1)).content
        referrals.check_transition(before, task)
        at = parse_instant(task.get("lastModified")) if task.get("lastModified") != (before or {}).get("lastModified") else None
        at = at or change.last_updated
        for clock in task_clocks(task, await clocks_of(conn, change.res_id), at):
            await save_clock(conn, clock)
        if before is None or before.get("status") != task.get("status"):
            await self._referral_follows(conn, change, task)

    async def _referral_follows(self, conn: AsyncConnection, change: StoredResource, task: dict[str, Any]) -> None:
        wanted = referrals.referral_status_for(task.get("status", ""))
        reference = str((task.get("focus") or {}).get("reference", ""))
        if wanted is None or not reference.startswith("ServiceRequest/"):
            return
        res_id = reference.split("/", 1)[1]
        stored = (await self.repository.read_many(conn, [("ServiceRequest", res_id)])).get(("ServiceRequest", res_id))
        if stored is None or stored.content is None or stored.content.get("status") == wanted:
            return
        updated, _ = await self.repository.update(
            conn, {**stored.content, "status": wanted}, res_id, expected_version=stored.version
        )
        await record_derivation(conn, self.repository, [updated], change)

    # -- care-plan sessions ------------------------------------------------------------------

    async def _count_sessions(self, conn: AsyncConnection, change: StoredResource, encounter: dict[str, Any]) -> None:
        for referral in care_plans.referrals_of(encounter):
            attended = await self._finished_sessions(conn, referral)
            plans = await self._search(conn, "CarePlan", [("activity-reference", referral), ("status", "active")])
            for plan in plans:
                assert plan.content is not None
                recounted = care_plans.counted(plan.content, referral, attended)
                if care_plans.sessions_of(recounted) == care_plans.sessions_of(plan.content) and recounted.get(
                    "activity"
                ) == plan.content.get("activity"):
                    continue
                updated, _ = await self.repository.update(conn, recounted, plan.res_id, expected_version=plan.version)
                await record_derivation(conn, self.repository, [updated], change)

    async def _finished_sessions(self, conn: AsyncConnection, referral: str) -> int:
        matches = await self._search(
            conn, "Encounter",
            [("based-on", referral), ("status", "finished"), ("type", care_plans.SESSION_TYPE), ("_count", "1000")],
        )
        return len(matches)

    async def _search(self, conn: AsyncConnection, res_type: str, items: list[tuple[str, str]]) -> list[StoredResource]:
        if not any(k == "_count" for k, _ in items):
            items = items + [("_count", "100")]
        page = await run_search(conn, self.registry, parse_search(self.registry, res_type, items + [("_total", "none")], strict=True))
        return page.matches
