"""Referential integrity on write: every literal reference a stored resource makes must resolve.

What is checked, and what is left alone (README "References"):
- `Type/id` (and `Type/id/_history/n`): the server must hold a current, not deleted `Type/id`
  that the writer may see. One that is restricted and invisible to the writer is refused
  exactly like one that does not exist (same status, same words), so a write cannot be used to
  learn that a hidden record exists; the writer may only point at what it can read.
- `urn:uuid:` / `urn:oid:`: only meaningful inside a Bundle, which rewrites them to the ids it
  assigns; one still present when the resource is stored points at nothing and is refused.
- `Type?criteria` (conditional): resolved by a transaction before this check; anywhere else (R4
  allows them only in transactions) it is refused.
- `#id` (contained), absolute URLs (another server) and canonicals (not `Reference.reference`)
  are not resolved here.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.outcome import FhirError
from service.conformance.supported import SUPPORTED_TYPES
from service.store.access import Viewer
from service.store.repository import ResourceRepository

_LITERAL = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")
_CONDITIONAL = re.compile(r"^[A-Z][A-Za-z]+\?")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_BUNDLE_LOCAL = ("urn:uuid:", "urn:oid:")


@dataclass(frozen=True, slots=True)
class Reference:
    """One `reference` value and the element that holds it (e.g. `Observation.performer[0]`)."""

    path: str
    value: str


def references_in(resource: dict[str, Any]) -> Iterator[Reference]:
    """Every Reference.reference string in the resource, contained resources included."""
    yield from _walk(resource, str(resource.get("resourceType", "Resource")))


def _walk(node: Any, path: str) -> Iterator[Reference]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield Reference(path, value)
            else:
                yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{path}[{index}]")


def target_of(value: str) -> tuple[str, str] | None:
    """(type, id) of a relative literal reference the server must hold; None when not one."""
    match = _LITERAL.match(value)
    return (match.group(1), match.group(2)) if match else None


def must_resolve(value: str) -> bool:
    """Whether the value is a reference this server is answerable for (see the module doc)."""
    if value.startswith("#"):
        return False
    if value.startswith(_BUNDLE_LOCAL):
        return True
    return not _SCHEME.match(value)


async def dangling(
    repository: ResourceRepository,
    conn: AsyncConnection,
    viewer: Viewer,
    resources: Sequence[dict[str, Any]],
    *,
    pending: set[tuple[str, str]],
) -> list[tuple[int, Reference]]:
    """The references of each resource (by its place in `resources`) that resolve to nothing.

    `pending` are resources the same request is about to write (a transaction's entries); they
    count as held. Existence is looked up once for all resources, a query per target type.
    """
    found: list[tuple[int, Reference]] = [
        (index, ref)
        for index, resource in enumerate(resources)
        for ref in references_in(resource)
        if must_resolve(ref.value)
    ]
    wanted = {t for _, ref in found if (t := target_of(ref.value)) and t not in pending and t[0] in SUPPORTED_TYPES}
    held = await repository.existing(conn, wanted, viewer=viewer) if wanted else set()
    return [(index, ref) for index, ref in found if not _resolves(ref.value, pending, held)]


def _resolves(value: str, pending: set[tuple[str, str]], held: set[tuple[str, str]]) -> bool:
    target = target_of(value)
    return target is not None and (target in pending or target in held)


def unresolved_error(ref: Reference) -> FhirError:
    """422 naming the element: the same words whether the target is absent or hidden."""
    if _CONDITIONAL.match(ref.value):
        message = (
            f"{ref.path} is a conditional reference ({ref.value}); FHIR R4 resolves those only inside a "
            "transaction Bundle"
        )
    elif ref.value.startswith(_BUNDLE_LOCAL):
        message = f"{ref.path} refers to {ref.value}, which no entry of the Bundle has as its fullUrl"
    else:
        message = f"{ref.path} refers to {ref.value}, which this server does not hold"
    return FhirError(422, message, code="not-found", expression=ref.path)


async def require_resolvable(
    repository: ResourceRepository, conn: AsyncConnection, viewer: Viewer, resource: dict[str, Any]
) -> None:
    """Refuse a single write whose references do not all resolve (the first one named)."""
    missing = await dangling(repository, conn, viewer, [resource], pending=set())
    if missing:
        raise unresolved_error(missing[0][1])
