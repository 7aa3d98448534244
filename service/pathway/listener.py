"""The pathway's ChangeListener: inside the writer's transaction, do what a written version sets off.

- a completed prompts QuestionnaireResponse → its relationship Observations, revised when the
  response is amended (when enabled);
- any resource a routing rule is on → the rule's Task, once per (task, cause, owner);
- a referral Task version → the state machine checked (409 refuses the whole write), the
  referral's status kept in step, the pathway clocks moved;
- a finished intervention-session Encounter → the plan's sessions attended recounted.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway import care_plans, referrals
from service.pathway.clock_store import clocks_of, save_clock
from service.pathway.clocks import task_clocks
from service.pathway.derived import create_once, create_or_revise, record_derivation
from service.pathway.extraction import Extractor, extractable
from service.pathway.routing import OutcomeRule, Rule, RuleBook
from service.pathway.teams import TEAM_TYPES, forget_families, team_of
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.search.values import parse_instant
from service.store.records import StoredResource
from service.store.repository import ResourceRepository
from service.store.search import run_search
from service.store.access import Viewer


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
            for outcome in self.rules.outcomes_for(change.res_type):
                for referral in outcome.answers(resource):
                    await self._return_outcome(conn, change, resource, referral, outcome)

    # -- routing rules ---------------------------------------------------------------------

    async def _apply(self, conn: AsyncConnection, change: StoredResource, resource: dict[str, Any], rule: Rule) -> None:
        infant = rule.infant_of(resource)
        if infant is None:
            return
        now = datetime.now(timezone.utc)
        trigger = f"{change.res_type}/{change.res_id}"
        occurrence = rule.occurrence_of(resource)
        # The first occurrence keeps the plain key, so a rule that gains `occurrence` later
        # does not raise its first Task again.
        cause = trigger if occurrence <= 1 else f"{trigger}#{occurrence}"
        for owner, due, contact in await self._owners(conn, rule, resource, infant, now):
            task_code = rule.template["code"]["coding"][0]["code"]
            key = f"{task_code}:{cause}:{owner['reference']}"
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
            booked = await self._booked_contact(conn, infant["reference"], owner["reference"], now)
            if booked is not None:
                found.append((owner, *booked))
                continue
            birth = await self._birth_date(conn, infant["reference"])
            when, contact = team.next_contact(birth, now.date())
            coding = None
            if contact is not None:
                coding = {"system": care_plans.CARE_CONTACTS, "code": contact.code, "display": contact.display}
            found.append((owner, when.isoformat(), coding))
        for owner in rule.owners_on(resource):
            found.append(({"reference": owner["reference"]}, rule.due_after(resource, now).isoformat(), None))
        return found

    async def _booked_contact(
        self, conn: AsyncConnection, infant: str, owner: str, now: datetime
    ) -> tuple[str, dict[str, Any] | None] | None:
        """The team's next booked (planned) contact with the infant: (its date, its contact type).

        A booked visit is the family's real next contact; the universal schedule is the fallback.
        The date search also matches a past visit with no end (its period is open), so the start
        is checked here; the date is the one the booking system wrote, in its own offset.
        """
        planned = await self._search(conn, "Encounter", [
            ("subject", infant), ("service-provider", owner), ("status", "planned"),
            ("date", f"ge{now.date().isoformat()}"), ("_sort", "date"), ("_count", "20"),
        ])
        for encounter in (p.content for p in planned if p.content is not None):
            start = str((encounter.get("period") or {}).get("start") or "")
            starts = parse_instant(start) if "T" in start else None
            if (starts is not None and starts >= now) or (starts is None and start[:10] >= now.date().isoformat()):
                coding = next((c for t in encounter.get("type") or [] for c in t.get("coding") or []
                               if c.get("system") == care_plans.CARE_CONTACTS), None)
                return start[:10], coding
        return None

    async def _birth_date(self, conn: AsyncConnection, infant: str) -> Any:
        res_type, _, res_id = infant.partition("/")
        stored = await self.repository.read_many(conn, [(res_type, res_id)], viewer=Viewer.system())
        content = stored[(res_type, res_id)].content if (res_type, res_id) in stored else None
        birth = (content or {}).get("birthDate")
        return datetime.fromisoformat(birth).date() if isinstance(birth, str) and len(birth) == 10 else None

    # -- extraction --------------------------------------------------------------------------

    async def _extract(self, conn: AsyncConnection, change: StoredResource, response: dict[str, Any]) -> None:
        source = f"QuestionnaireResponse/{change.res_id}"
        for observation in self.extractor.observations(response, source):
            await create_or_revise(conn, self.repository, self.registry, observation, change)

    # -- referral lifecycle and clocks -----------------------------------------------------

    async def _referral_task_moved(self, conn: AsyncConnection, change: StoredResource, task: dict[str, Any]) -> None:
        before = None
        if change.version > 1:
            before = (await self.repository.vread(conn, "Task", change.res_id, change.version - 1, viewer=Viewer.system())).content
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

        def follow(referral: dict[str, Any]) -> dict[str, Any] | None:
            return None if referral.get("status") == wanted else {**referral, "status": wanted}

        await self._revise(conn, "ServiceRequest", reference.split("/", 1)[1], follow, change)

    async def _return_outcome(
        self, conn: AsyncConnection, change: StoredResource, resource: dict[str, Any], referral: str, outcome: OutcomeRule
    ) -> None:
        """Add the resource to the outputs of the referral's open Tasks, once: the referrer sees it there."""
        reference = f"{change.res_type}/{change.res_id}"
        tasks = await self._search(conn, "Task", [("focus", referral), ("code", f"{referrals.TASK_CODES}|referral")])
        writer = await self.repository.owner_of(conn, change.pk) if tasks else None
        for task in tasks:
            assert task.content is not None
            if not referrals.answered_by(task.content, writer):
                continue
            if outcome.newest_by and not await self._newest(conn, task.content, outcome, resource, reference):
                continue

            def answer(current: dict[str, Any]) -> dict[str, Any] | None:
                return referrals.with_output(current, outcome.output, reference, single=outcome.newest_by is not None)

            await self._revise(conn, "Task", task.res_id, answer, change)

    async def _newest(
        self, conn: AsyncConnection, task: dict[str, Any], outcome: OutcomeRule, resource: dict[str, Any], reference: str
    ) -> bool:
        """Whether `resource` may take the task's one output of this type: it is at least as new
        as the one there (an older plan written again must not displace a newer one)."""
        current = referrals.output_reference(task, outcome.output)
        if current is None or current == reference:
            return True
        res_type, _, res_id = current.partition("/")
        other = (await self.repository.read_many(conn, [(res_type, res_id)], viewer=Viewer.system())).get((res_type, res_id))
        if other is None or other.content is None:
            return True
        return outcome.newest(resource) >= outcome.newest(other.content)

    async def _revise(
        self, conn: AsyncConnection, res_type: str, res_id: str,
        revise: Callable[[dict[str, Any]], dict[str, Any] | None], cause: StoredResource,
    ) -> None:
        """Write revise(current) as a new version, with a Provenance; nothing when it gives None.

        The current version is read under the resource's row lock, so a client's concurrent
        write is either seen here or waits: it is never overwritten, nor does it make this
        write fail its version check.
        """
        current = await self.repository.read_for_update(conn, res_type, res_id, viewer=Viewer.system())
        revised = revise(current.content) if current is not None and current.content is not None else None
        if current is None or revised is None:
            return
        updated, _ = await self.repository.update(conn, revised, res_id, expected_version=current.version, viewer=Viewer.system())
        await record_derivation(conn, self.repository, [updated], cause)

    # -- care-plan sessions ------------------------------------------------------------------

    async def _count_sessions(self, conn: AsyncConnection, change: StoredResource, encounter: dict[str, Any]) -> None:
        for referral in care_plans.referrals_of(encounter):
            attended = await self._finished_sessions(conn, referral)
            plans = await self._search(conn, "CarePlan", [("activity-reference", referral), ("status", "active")])
            for plan in plans:

                def recount(current: dict[str, Any], referral: str = referral) -> dict[str, Any] | None:
                    recounted = care_plans.counted(current, referral, attended)
                    unchanged = care_plans.sessions_of(recounted) == care_plans.sessions_of(current) and recounted.get(
                        "activity") == current.get("activity")
                    return None if unchanged else recounted

                await self._revise(conn, "CarePlan", plan.res_id, recount, change)

    async def _finished_sessions(self, conn: AsyncConnection, referral: str) -> int:
        matches = await self._search(
            conn, "Encounter",
            [("based-on", referral), ("status", "finished"), ("type", care_plans.SESSION_TYPE), ("_count", "1000")],
        )
        return len(matches)

    async def _search(self, conn: AsyncConnection, res_type: str, items: list[tuple[str, str]]) -> list[StoredResource]:
        if not any(k == "_count" for k, _ in items):
            items = items + [("_count", "100")]
        page = await run_search(conn, self.registry, parse_search(self.registry, res_type, items + [("_total", "none")], strict=True), viewer=Viewer.system())
        return page.matches
