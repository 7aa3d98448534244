"""Whether two mentions name the same organisation: the one comparison the pathway makes everywhere.

An organisation is named by reference (`Organization/<id>`) or by its ODS code (a Reference's
identifier, a token's organisation claim — taken as the logical id, see service.security.tokens —
or the Organization resource's ODS identifier). Two mentions are the same organisation when any
of these names agree; comparing references alone misses a token that carries an ODS code.
"""

from collections.abc import Awaitable, Callable
from typing import Any

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"

Read = Callable[[str], Awaitable[dict[str, Any] | None]]


async def names_of(mention: str | dict[str, Any] | None, read: Read) -> set[str]:
    """Every name the mention goes by: its reference, and its ODS codes (given or on the stored Organization)."""
    if mention is None:
        return set()
    reference = mention if isinstance(mention, str) else str(mention.get("reference") or "")
    names: set[str] = set()
    if isinstance(mention, dict):
        identifier = mention.get("identifier") or {}
        if identifier.get("system") == ODS and identifier.get("value"):
            names.add(f"ods:{str(identifier['value']).upper()}")
    if reference.startswith("Organization/"):
        logical_id = reference.split("/", 1)[1]
        names |= {reference, f"ods:{logical_id.upper()}"}
        for other in ((await read(reference)) or {}).get("identifier") or []:
            if other.get("system") == ODS and other.get("value"):
                names.add(f"ods:{str(other['value']).upper()}")
    return names


async def same_organisation(a: str | dict[str, Any] | None, b: str | dict[str, Any] | None, read: Read) -> bool:
    return bool(await names_of(a, read) & await names_of(b, read))
