"""$ingest: what a record adds to a person or organisation Dyad already holds.

A mapping writes people and organisations with POST + ifNoneExist, so a record never overwrites
what other records and systems said of them. On its own that would also drop what a later record
adds that accumulates rather than replaces:

- Patient.link: the mother's second twin comes in a second record, and her link to the
  RelatedPerson she is for that baby is how her maternity record finds the baby. Left out, the
  second twin is missing from the mother's record (docs/safety/hazard-log.md, PW-16).
- Organization.type: the service an organisation is. An organisation first recorded untyped
  (as another record's referral destination, say) and later sending its own perinatal mental
  health records must be typed, or what it writes directly is not restricted.

So before the transaction runs, each such entry whose resource exists becomes an update of it,
with only the items it lacks added and everything else kept as held. The update is version
checked (ifMatch): a write in between fails the record with 412 for the sender to resend, never
a lost update.
"""

from typing import Any

from service.api import interactions
from service.api.context import FhirContext
from service.api.requests import parse_criteria
from service.security.access import Access
from service.store.records import StoredResource

# The element of each type whose items accumulate across records.
ACCUMULATING: dict[str, str] = {"Patient": "link", "Organization": "type"}


async def add_to_existing(ctx: FhirContext, access: Access, bundle: dict[str, Any]) -> None:
    """Turn each accumulating POST + ifNoneExist entry whose resource exists into an update that adds
    what it lacks (in place; entries with nothing to add are left to match as before)."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict)]
    wanted = [e for e in entries if _accumulates(e)]
    if not wanted:
        return
    async with ctx.db.read() as conn:
        held = _Held(ctx, conn, access, {e["fullUrl"]: e for e in entries if e.get("fullUrl")})
        for entry in wanted:
            resource = entry["resource"]
            found = await held.match(resource["resourceType"], str(entry["request"]["ifNoneExist"]))
            if found is None or found.content is None:
                continue
            element = ACCUMULATING[resource["resourceType"]]
            adding = (
                await held.links_lacking(found.content, resource)
                if element == "link"
                else _types_lacking(found.content, resource)
            )
            if adding:
                _into_update(entry, found, element, adding)


class _Held:
    """What the store holds for the Bundle's conditional entries, searched with the caller's rights."""

    def __init__(self, ctx: FhirContext, conn: Any, access: Access, by_url: dict[str, dict[str, Any]]) -> None:
        self.ctx, self.conn, self.access, self.by_url = ctx, conn, access, by_url

    async def match(self, res_type: str, query: str) -> StoredResource | None:
        matches = await interactions.find_matches(self.ctx, self.conn, self.access, res_type, parse_criteria(query))
        return interactions.one_or_none(res_type, matches)

    async def target(self, reference: str) -> str | None:
        """Where a reference in the Bundle points once stored; None: to something the Bundle creates."""
        entry = self.by_url.get(reference)
        if entry is None:
            return reference
        request = entry.get("request") or {}
        res_type = entry["resource"]["resourceType"]
        if request.get("method") == "POST" and request.get("ifNoneExist"):
            found = await self.match(res_type, str(request["ifNoneExist"]))
        elif request.get("method") == "PUT" and "?" in str(request.get("url")):
            found = await self.match(res_type, str(request["url"]).split("?", 1)[1])
        else:
            return None
        return f"{res_type}/{found.res_id}" if found else None

    async def links_lacking(self, held: dict[str, Any], resource: dict[str, Any]) -> list[Any]:
        linked = {(i.get("other", {}).get("reference"), i.get("type")) for i in held.get("link") or []}
        lacking = []
        for item in resource.get("link") or []:
            other = await self.target(str(item.get("other", {}).get("reference")))
            # A link to what this Bundle creates (other None) cannot be held yet.
            if other is None or (other, item.get("type")) not in linked:
                lacking.append(item)
        return lacking


def _types_lacking(held: dict[str, Any], resource: dict[str, Any]) -> list[Any]:
    typed = {_coding_key(t) for t in held.get("type") or []}
    return [t for t in resource.get("type") or [] if _coding_key(t) not in typed]


def _accumulates(entry: dict[str, Any]) -> bool:
    element = ACCUMULATING.get(entry["resource"].get("resourceType", ""))
    request = entry.get("request") or {}
    return bool(element and request.get("method") == "POST" and request.get("ifNoneExist"))


def _coding_key(concept: dict[str, Any]) -> frozenset[tuple[str | None, str | None]]:
    return frozenset((c.get("system"), c.get("code")) for c in concept.get("coding") or [])


def _into_update(entry: dict[str, Any], held: StoredResource, element: str, adding: list[Any]) -> None:
    content: dict[str, Any] = dict(held.content or {})
    # Its meta as held (source, labels): adding a link or a type does not make this record its
    # source, and a restricted source would otherwise hide a shared Organization from every
    # service that refers to it. The record's Provenance names the change.
    meta = {k: v for k, v in (content.pop("meta", None) or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        content["meta"] = meta
    content[element] = list(content.get(element) or []) + adding
    entry["resource"] = content
    entry["request"] = {"method": "PUT", "url": f"{held.res_type}/{held.res_id}", "ifMatch": f'W/"{held.version}"'}
