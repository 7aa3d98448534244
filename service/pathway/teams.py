"""Which organisation serves a family, found in the family's own records, not configuration.

The infant's active CareTeams (participants and managing organisations) and EpisodeOfCare
records (managing organisation) name the organisations involved; an organisation's type says
which kind of team it is (health visiting, community perinatal mental health...).
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.routing import Team
from service.search.extract import param_rows, reference_row
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.repository import ResourceRepository
from service.store.search import run_search


async def _search(
    conn: AsyncConnection, registry: SearchRegistry, res_type: str, items: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    query = parse_search(registry, res_type, items + [("_total", "none")], strict=True)
    query.count = None  # every CareTeam and episode: a team on a second page would be a lost team
    page = await run_search(conn, registry, query, viewer=Viewer.system())
    return [m.content for m in page.matches if m.content]


def _organization_refs(resources: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for resource in resources:
        candidates = [p.get("member") or {} for p in resource.get("participant") or []]
        managing = resource.get("managingOrganization")
        candidates += managing if isinstance(managing, list) else [managing or {}]
        for ref in candidates:
            reference = ref.get("reference", "") if isinstance(ref, dict) else ""
            if reference.startswith("Organization/") and reference not in found:
                found.append(reference)
    return found


# The families looked up in the current transaction: a Bundle of Observations about a few infants
# would otherwise search their CareTeams and EpisodeOfCares again for every Observation.
_FAMILIES_KEY = "dyad_pathway_families"
TEAM_TYPES = frozenset({"CareTeam", "EpisodeOfCare", "Organization"})


def _families(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """This transaction's lookups; conn.info outlives the transaction, so the entry names it."""
    transaction = conn.sync_connection.get_transaction() if conn.sync_connection else None
    held = conn.info.get(_FAMILIES_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        conn.info[_FAMILIES_KEY] = held
    families: dict[str, list[dict[str, Any]]] = held[1]
    return families


def forget_families(conn: AsyncConnection) -> None:
    """A CareTeam, EpisodeOfCare or Organization was written: what was looked up may be stale."""
    conn.info.pop(_FAMILIES_KEY, None)


async def family_organizations(
    conn: AsyncConnection, registry: SearchRegistry, repository: ResourceRepository, infant: str
) -> list[dict[str, Any]]:
    """The Organizations the infant's CareTeams and EpisodeOfCares name, CareTeams first."""
    families = _families(conn)
    if infant not in families:
        families[infant] = await _family_organizations(conn, registry, repository, infant)
    return families[infant]


async def _family_organizations(
    conn: AsyncConnection, registry: SearchRegistry, repository: ResourceRepository, infant: str
) -> list[dict[str, Any]]:
    care_teams = await _search(conn, registry, "CareTeam", [("subject", infant), ("status", "active")])
    episodes = await _search(conn, registry, "EpisodeOfCare", [("patient", infant), ("status", "active")])
    refs = _organization_refs(care_teams + episodes)
    stored = await repository.read_many(conn, [tuple(r.split("/", 1)) for r in refs], viewer=Viewer.system())  # type: ignore[misc]
    return [stored[key].content for key in (tuple(r.split("/", 1)) for r in refs) if key in stored]  # type: ignore[misc]


# Infants per search when a batch's families are looked up together.
PREFETCH_CHUNK = 100


async def prefetch_families(
    conn: AsyncConnection, registry: SearchRegistry, repository: ResourceRepository, infants: list[str]
) -> None:
    """The families of many infants (a Bundle's) looked up together: two searches per hundred
    infants and one read of their organisations, instead of three statements per infant.

    Each infant gets what `family_organizations` would find for it alone: its active CareTeams
    and EpisodeOfCares, told apart by the same index rows its own search matches (a `Type/id`
    reference's type and id), in the same order (the searches order by row), CareTeams first.
    An infant referred to any other way is left to be looked up on its own.
    """
    families = _families(conn)
    local: dict[tuple[str, str], str] = {}
    for infant in infants:
        row = reference_row("subject", infant)
        if infant in families or row.target_type is None or any(c in infant for c in ",|$\\"):
            continue
        local[(row.target_type, str(row.target_id))] = infant
    if not local:
        return
    found: dict[str, list[dict[str, Any]]] = {infant: [] for infant in local.values()}
    wanted = list(local.values())
    for res_type, param in (("CareTeam", "subject"), ("EpisodeOfCare", "patient")):
        for start in range(0, len(wanted), PREFETCH_CHUNK):
            chunk = ",".join(wanted[start : start + PREFETCH_CHUNK])
            for content in await _search(conn, registry, res_type, [(param, chunk), ("status", "active")]):
                for ref in param_rows(registry, res_type, content, frozenset({param})).reference:
                    owner = local.get((str(ref.target_type), str(ref.target_id))) if ref.param == param else None
                    if owner is not None and content not in found[owner]:
                        found[owner].append(content)
    refs = {infant: [_key(r) for r in _organization_refs(resources)] for infant, resources in found.items()}
    stored = await repository.read_many(
        conn, sorted({k for each in refs.values() for k in each}), viewer=Viewer.system()
    )
    for infant, keys in refs.items():
        families[infant] = [stored[key].content for key in keys if key in stored]  # type: ignore[misc]


def _key(reference: str) -> tuple[str, str]:
    res_type, _, res_id = reference.partition("/")
    return res_type, res_id


def is_team(organization: dict[str, Any], team: Team) -> bool:
    codes = {
        f"{coding.get('system')}|{coding.get('code')}"
        for concept in organization.get("type") or []
        for coding in concept.get("coding") or []
    }
    return bool(codes & team.organization_types)


async def team_of(
    conn: AsyncConnection, registry: SearchRegistry, repository: ResourceRepository, infant: str, team: Team
) -> dict[str, str] | None:
    """A reference to the family's organisation of that kind, or None when its records name none."""
    for organization in await family_organizations(conn, registry, repository, infant):
        if is_team(organization, team):
            return {"reference": f"Organization/{organization['id']}"}
    return None
