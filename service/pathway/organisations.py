"""Whether two mentions name the same organisation: the one comparison the pathway makes everywhere.

An organisation is named by reference (`Organization/<id>`), by its ODS code (a Reference's
identifier), or by a token's organisation claim (read as `Organization/<ODS code>`, see
service.security.tokens). The Organization for an ODS code is stored at `Organization/<code>`
(service.store.ods), so every name comes down to one key: the logical id. The stored
Organization's own identifiers are not consulted: before ids were keyed, any writer could put
another organisation's ODS code on an Organization of its own and so pass for it.
"""

from typing import Any

from service.store.ods import ODS_SYSTEM


def key_of(mention: str | dict[str, Any] | None) -> str | None:
    """The organisation's key (its Organization's logical id, the ODS code for NHS bodies)."""
    if mention is None:
        return None
    if isinstance(mention, dict):
        reference = str(mention.get("reference") or "")
        identifier = mention.get("identifier") or {}
        if not reference and isinstance(identifier, dict) and identifier.get("system") == ODS_SYSTEM:
            value = identifier.get("value")
            return str(value) if value else None
    else:
        reference = mention
    if reference.startswith("Organization/") and reference.count("/") == 1:
        return reference.split("/", 1)[1] or None
    return None


def same_organisation(a: str | dict[str, Any] | None, b: str | dict[str, Any] | None) -> bool:
    key = key_of(a)
    return key is not None and key == key_of(b)
