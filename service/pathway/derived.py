"""Writing what the pathway derives (prompts, tasks, observations, notifications) inside a write.

Every derived resource carries a business identifier made from what caused it, and is created
at most once per identifier: re-sending the same observation, or two replicas racing, never
makes a second prompt. A Provenance names the version that caused it, so the derived write is
recorded in the same transaction as the write that triggered it.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.pathway.extraction import revision_of
from service.search.query import parse_search
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.records import StoredResource, format_instant
from service.store.repository import NewResource, ResourceRepository, conditional_key
from service.store.search import run_search

DERIVED_SYSTEM = "https://w3id.org/dyad/fhir/Id/pathway-derived"
RULES_AGENT = "Dyad pathway rules"


def derived_identifier(value: str) -> dict[str, str]:
    return {"system": DERIVED_SYSTEM, "value": value}


def derived_key(res_type: str, system: str, value: str) -> str:
    """The conditional key a derived resource is created under: its identifier's, so that two
    writers racing to derive the same resource collide on the key's unique index."""
    return conditional_key(res_type, [("identifier", f"{system}|{value}")])


async def find_by_identifier(
    conn: AsyncConnection, registry: SearchRegistry, res_type: str, system: str, value: str
) -> StoredResource | None:
    query = parse_search(
        registry, res_type, [("identifier", f"{system}|{value}"), ("_count", "1"), ("_total", "none")], strict=True
    )
    page = await run_search(conn, registry, query, viewer=Viewer.system())
    return page.matches[0] if page.matches else None


async def create_once(
    conn: AsyncConnection,
    repository: ResourceRepository,
    registry: SearchRegistry,
    resource: dict[str, Any],
    cause: StoredResource | None,
) -> StoredResource | None:
    """Create unless a resource with its first identifier exists; None when it already did."""
    identifier = resource["identifier"][0]
    if await find_by_identifier(conn, registry, resource["resourceType"], identifier["system"], identifier["value"]):
        return None
    return await _create_under_key(conn, repository, resource, cause)


async def _create_under_key(
    conn: AsyncConnection, repository: ResourceRepository, resource: dict[str, Any], cause: StoredResource | None
) -> StoredResource | None:
    """Create under the identifier's conditional key; None when a concurrent write created it first."""
    identifier = resource["identifier"][0]
    key = derived_key(resource["resourceType"], identifier["system"], identifier["value"])
    # The resource and its Provenance in the same INSERTs (one statement per table for both, not
    # two rounds of them); the id is chosen here so that the Provenance can name the version.
    res_id = str(uuid.uuid4())
    provenance = derivation([f"{resource['resourceType']}/{res_id}/_history/1"], cause, create=True)
    items = [NewResource(resource, res_id=res_id, conditional_key=key), NewResource(provenance)]
    try:
        async with conn.begin_nested():
            stored = (await repository.create_many(conn, items))[0]
    except IntegrityError:
        return None
    return stored


async def create_or_revise(
    conn: AsyncConnection,
    repository: ResourceRepository,
    registry: SearchRegistry,
    resource: dict[str, Any],
    cause: StoredResource,
) -> StoredResource | None:
    """Create, or write an amended version when what is derived now differs; None when unchanged."""
    identifier = resource["identifier"][0]
    found = await find_by_identifier(
        conn, registry, resource["resourceType"], identifier["system"], identifier["value"]
    )
    if found is None:
        return await _create_under_key(conn, repository, resource, cause)
    current = await repository.read_for_update(conn, found.res_type, found.res_id, viewer=Viewer.system())
    revised = revision_of(current.content, resource) if current and current.content else None
    if current is None or revised is None:
        return None
    stored, _ = await repository.update(
        conn, revised, current.res_id, expected_version=current.version, viewer=Viewer.system()
    )
    await record_derivation(conn, repository, [stored], cause)
    return stored


async def record_derivation(
    conn: AsyncConnection, repository: ResourceRepository, written: list[StoredResource], cause: StoredResource | None
) -> None:
    """A Provenance: these versions were written by the pathway rules because of that version."""
    targets = [f"{w.res_type}/{w.res_id}/_history/{w.version}" for w in written]
    await repository.create(conn, derivation(targets, cause, create=all(w.version == 1 for w in written)))


def derivation(targets: list[str], cause: StoredResource | None, *, create: bool) -> dict[str, Any]:
    """The Provenance of versions (`Type/id/_history/n`) the pathway rules wrote because of `cause`."""
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": target} for target in targets],
        "recorded": format_instant(datetime.now(UTC)),
        "activity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                    "code": "CREATE" if create else "UPDATE",
                }
            ]
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                        }
                    ]
                },
                "who": {"display": RULES_AGENT},
            }
        ],
    }
    if cause is not None:
        provenance["entity"] = [
            {
                "role": "source",
                "what": {"reference": f"{cause.res_type}/{cause.res_id}/_history/{cause.version}"},
            }
        ]
    return provenance
