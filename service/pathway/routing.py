"""Routing rules as data: which written resource creates which Task for whom (rules/routing.json)."""

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fpml import resolve_template

from service.pathway.expressions import evaluate, is_true, template_evaluate

RULES_FILE = Path(__file__).parent / "rules" / "routing.json"
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Contact:
    code: str
    display: str
    days_after_birth: int


@dataclass(frozen=True)
class Team:
    """A kind of team, recognised in the family's data by its Organization.type."""

    kind: str
    organization_types: frozenset[str]  # system|code
    contacts: tuple[Contact, ...]
    otherwise_within_days: int

    def next_contact(self, birth: date | None, today: date) -> tuple[date, Contact | None]:
        """When this team next sees the family (its universal contact schedule), or a default wait."""
        if birth is not None:
            for contact in self.contacts:
                when = birth + timedelta(days=contact.days_after_birth)
                if when >= today:
                    return when, contact
        return today + timedelta(days=self.otherwise_within_days), None


@dataclass(frozen=True)
class Rule:
    """One rule of the rule file: `kind` names the module in service/pathway/kinds/ that carries it
    out, `on` and `when` say which written versions it acts on; the rest is the kind's own data."""

    id: str
    kind: str
    on: tuple[str, ...]
    when: str
    spec: dict[str, Any]
    infant: str = "subject"
    owner_teams: tuple[str, ...] = ()
    owner_expression: str | None = None
    due: dict[str, Any] = field(default_factory=dict)
    template: Any = None
    occurrence: str | None = None

    def occurrence_of(self, resource: dict[str, Any]) -> int:
        """Which time this rule fires for the resource (1 without an `occurrence` expression)."""
        if self.occurrence is None:
            return 1
        found = evaluate(resource, self.occurrence)
        return int(found[0]) if found and isinstance(found[0], (int, float)) else 1

    def fires_on(self, resource: dict[str, Any]) -> bool:
        return resource.get("resourceType") in self.on and is_true(resource, self.when)

    def infant_of(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        found = evaluate(resource, self.infant)
        return found[0] if found and isinstance(found[0], dict) else None

    def infants_of(self, resource: dict[str, Any]) -> list[str]:
        return [
            str(r["reference"]) for r in evaluate(resource, self.infant) if isinstance(r, dict) and r.get("reference")
        ]

    def owners_on(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        if self.owner_expression is None:
            return []
        return [r for r in evaluate(resource, self.owner_expression) if isinstance(r, dict) and r.get("reference")]

    def due_after(self, resource: dict[str, Any], now: datetime) -> date:
        """A `daysAfter` due date: days after a date on the resource (or after now)."""
        source = self.due.get("daysAfter", "now")
        start = now.date()
        if source != "now":
            found = evaluate(resource, source)
            if found and isinstance(found[0], str):
                start = date.fromisoformat(found[0][:10])
        return start + timedelta(days=int(self.due.get("days", 14)))

    def task(self, resource: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        built = resolve_template(resource, self.template, variables, evaluate=template_evaluate)
        assert isinstance(built, dict), f"rule {self.id}: its template must make one Task"
        return built


@dataclass(frozen=True)
class OutcomeRule:
    """Of the `outcome` kind: a written resource that answers a referral goes back to the referrer."""

    referrals: str
    output: str  # dyad-task-codes output type
    # With it, the task holds one output of this type: the resource newest by this FHIRPath.
    newest_by: str | None = None

    def newest(self, resource: dict[str, Any]) -> str:
        """The value the newest output is chosen by (ISO dates order as strings)."""
        found = evaluate(resource, self.newest_by) if self.newest_by else []
        return str(found[0]) if found else ""

    def answers(self, resource: dict[str, Any]) -> list[str]:
        """The ServiceRequest references this resource answers."""
        found = evaluate(resource, self.referrals)
        return [str(r["reference"]) for r in found if isinstance(r, dict) and r.get("reference")]


@dataclass(frozen=True)
class RuleBook:
    teams: dict[str, Team]
    rules: tuple[Rule, ...]

    def for_type(self, res_type: str) -> list[Rule]:
        return [r for r in self.rules if res_type in r.on]


# The keys of a rule that hold FHIRPath: each is compiled at start, so a broken rule fails there.
_EXPRESSIONS = ("when", "occurrence", "referrals", "newestBy")


def load_rules(path: Path = RULES_FILE) -> RuleBook:
    data = json.loads(path.read_text())
    teams = {
        kind: Team(
            kind,
            frozenset(spec.get("organizationTypes") or []),
            tuple(
                Contact(c["code"], c.get("display", c["code"]), int(c["daysAfterBirth"]))
                for c in spec.get("contacts") or []
            ),
            int(spec.get("otherwiseWithinDays", 14)),
        )
        for kind, spec in data.get("teams", {}).items()
    }
    return RuleBook(teams, tuple(_rule(spec, teams) for spec in data["rules"]))


def _rule(spec: dict[str, Any], teams: dict[str, Team]) -> Rule:
    on = (spec["on"],) if isinstance(spec["on"], str) else tuple(spec["on"])
    owners = spec.get("owners") or {}
    unknown = [t for t in owners.get("teams", []) if t not in teams]
    if unknown:
        raise ValueError(f"rule {spec['id']} names teams the rule file does not define: {unknown}")
    for key in _EXPRESSIONS:
        if spec.get(key):
            for res_type in on:
                evaluate({"resourceType": res_type}, spec[key])  # fail at start, not mid-write
    template = json.loads((TEMPLATES / f"task-{spec['task']}.json").read_text()) if "task" in spec else None
    return Rule(
        spec["id"],
        spec["kind"],
        on,
        spec["when"],
        spec,
        spec.get("infant", "subject"),
        tuple(owners.get("teams", [])),
        owners.get("expression"),
        spec.get("due", {}),
        template,
        spec.get("occurrence"),
    )


def outcome_of(rule: Rule) -> OutcomeRule:
    return OutcomeRule(rule.spec["referrals"], rule.spec["output"], rule.spec.get("newestBy"))
