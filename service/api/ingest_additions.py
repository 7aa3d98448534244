"""$ingest: what a record adds to a person or organisation Dyad already holds.

A mapping writes people and organisations with POST + ifNoneExist, so a record never overwrites
what other records and systems said of them. On its own that would also drop what a later record
adds that accumulates rather than replaces:

- Patient.link: the mother's second twin comes in a second record, and her link to the
  RelatedPerson she is for that baby is how her maternity record finds the baby. Left out, the
  second twin is missing from the mother's record (docs/safety/hazard-log.md, PW-25).
- Organization.type: the service an organisation is. An organisation first recorded untyped
  (as another record's referral destination, say) and later sending its own perinatal mental
  health records must be typed, or what it writes directly is not restricted.

So before the transaction runs, each such entry whose resource exists becomes an update of it,
with only the items it lacks added and everything else kept as held. The update is version
checked (ifMatch): a write in between fails the record with 412 for the sender to resend, never
a lost update.
"""

from collections.abc import Callable
from typing import Any

from service.api import interactions
from service.api.context import FhirContext
from service.api.requests import parse_criteria
from service.security.access import Access

# The element of each type whose items accumulate across records.
ACCUMULATING: dict[str, str] = {"Patient": "link", "Organization": "type"}
Key = Callable[[Any], Any]


async def add_to_existing(ctx: FhirContext, access: Access, bundle: dict[str, Any]) -> None:
    """Turn each accumulating POST + ifNoneExist entry whose resource exists into an update that adds
    what it lacks (in place; entries with nothing to add are left to match as before)."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict)]
    wanted = [e for e in entries if _accumulates(e)]
    if not wanted:
        return
    by_url = {e["fullUrl"]: e for e in entries if e.get("fullUrl")}
    async with ctx.db.read() as conn:

        async def existing(res_type: str, query: str) -> Any:
            matches = await interactions.find_matches(ctx, conn, access, res_type, parse_criteria(query))
            return interactions.one_or_none(res_type, matches)

        async def target(reference: str) -> str | None:
            """Where a reference in the Bundle points once stored; None: to something it creates."""
            entry = by_url.get(reference)
            if entry is None:
                return reference
            request = entry.get("request") or {}
            res_type = entry["resource"]["resourceType"]
            if request.get("method") == "POST" and request.get("ifNoneExist"):
                found = await existing(res_type, str(request["ifNoneExist"]))
            elif request.get("method") == "PUT" and "?" in str(request.get("url")):
                found = await existing(res_type, str(request["url"]).split("?", 1)[1])
            else:
                return None
            return f"{res_type}/{found.res_id}" if found else None

        for entry in wanted:
            resource = entry["resource"]
            held = await existing(resource["resourceType"], str(entry["request"]["ifNoneExist"]))
            if held is None or held.content is None:
                continue
            element = ACCUMULATING[resource["resourceType"]]
            if element == "link":
                have = {_link_key(item, item["other"].get("reference")) for item in held.content.get("link") or []}
                adding = [
                    item
                    for item in resource.get("link") or []
                    if _link_key(item, await target(str(item["other"].get("reference")))) not in have
                ]
            else:
                have = {_coding_key(item) for item in held.content.get(element) or []}
                adding = [item for item in resource.get(element) or [] if _coding_key(item) not in have]
            if adding:
                _into_update(entry, held, element, adding)


def _accumulates(entry: dict[str, Any]) -> bool:
    element = ACCUMULATING.get(entry["resource"].get("resourceType", ""))
    request = entry.get("request") or {}
    return bool(element and request.get("method") == "POST" and request.get("ifNoneExist"))


def _link_key(link: dict[str, Any], other: str | None) -> tuple[str | None, str | None]:
    # A link to something the Bundle creates (other None) is never held yet: never equal to a held one.
    return (other, link.get("type")) if other is not None else (None, repr(id(link)))


def _coding_key(concept: dict[str, Any]) -> frozenset[tuple[str | None, str | None]]:
    return frozenset((c.get("system"), c.get("code")) for c in concept.get("coding") or [])


def _into_update(entry: dict[str, Any], held: Any, element: str, adding: list[Any]) -> None:
    content: dict[str, Any] = dict(held.content)
    meta = {k: v for k, v in (content.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    source = (entry["resource"].get("meta") or {}).get("source")
    if source:
        meta["source"] = source  # this record is the latest to write it
    content["meta"] = meta
    content[element] = list(content.get(element) or []) + adding
    entry["resource"] = content
    entry["request"] = {"method": "PUT", "url": f"{held.res_type}/{held.res_id}", "ifMatch": f'W/"{held.version}"'}
