"""A system's local ids, out and back: a rendered record never passes Dyad's ids off as the system's own.

A local id (CaregiverLocalID, AssessmentID...) is only unique within the organisation that made it,
so Dyad keeps it in that organisation's namespace (`Id/<ODS>/<kind>`). Rendering for an
organisation writes its own id where Dyad holds one; where it holds none (the resource came from
another system, or over REST) it writes a *Dyad-minted* id: `DYAD<tag>.u<the 32 hex digits of a
uuid id>` or `DYAD<tag>.v<any other id>` (tag P Patient, R RelatedPerson, X anything else), which
fits the data sets' 40 characters. The prefix is reserved.

Ingesting a record back recognises a minted id as the resource Dyad already holds: the entry that
would create or update it under that id is left out of the Bundle, what refers to it refers to
the held resource, and the record's version of it is listed as not held (the other system's
resource is not overwritten by a copy of it). So a family rendered for a system it did not come
from and sent back stays one Patient per person and one record per record.
"""

import re
from typing import Any

from service.mapping.results import Unmappable

LOCAL_ID_BASE = "https://w3id.org/dyad/fhir/Id/"
_MAX_LOCAL_ID = 40
# DYAD<type tag>.<u + a uuid's 32 hex digits | v + any other id>; the tag tells a person's two
# kinds of resource apart (a caregiver's local id may name either).
_MINTED = re.compile(r"^DYAD([PRX])\.(?:u([0-9a-f]{32})|v([A-Za-z0-9.\-]+))$")
_TAGS = {"Patient": "P", "RelatedPerson": "R"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Kinds of key whose value is the keyed resource's own local id (the others are derived from
# another resource's id: a referral's Task, a care plan's team, a child's episode of care).
OWN_KINDS = frozenset(
    {
        "person",
        "practitioner",
        "encounter",
        "observation",
        "referral",
        "care-plan",
        "goal",
        "pregnancy-referral",
        "team",
    }
)
# Derived keys that stand or fall with the resource whose id they carry.
FOLLOWS = frozenset({"referral-task", "care-team"})


def mint(resource: dict[str, Any]) -> str | None:
    """The Dyad-minted local id for a resource; None when it cannot fit the data sets' field."""
    logical_id = resource.get("id")
    if not isinstance(logical_id, str):
        return None
    tag = _TAGS.get(str(resource.get("resourceType")), "X")
    body = "u" + logical_id.replace("-", "") if _UUID.match(logical_id) else "v" + logical_id
    minted = f"DYAD{tag}.{body}"
    return minted if len(minted) <= _MAX_LOCAL_ID and _MINTED.match(minted) else None


def minted_id(value: object) -> tuple[str, str] | None:
    """(type tag, logical id) a minted local id stands for; None for a system's own id."""
    found = _MINTED.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    tag, hexed, verbatim = found.groups()
    if hexed:
        return tag, f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
    return tag, verbatim


def local_id(resource: dict[str, Any], kind: str, organisation: str | None) -> str | None:
    """The organisation's own id for the resource, else a minted one (never Dyad's id as such)."""
    if organisation:
        system = f"{LOCAL_ID_BASE}{organisation}/{kind}"
        for identifier in resource.get("identifier") or ():
            if isinstance(identifier, dict) and identifier.get("system") == system and identifier.get("value"):
                return str(identifier["value"])
    return mint(resource)


def _key(request: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, value) of the local-id key a Bundle entry's request is conditional on."""
    criteria = request.get("ifNoneExist") or str(request.get("url") or "").partition("?")[2]
    if not isinstance(criteria, str) or not criteria.startswith("identifier=" + LOCAL_ID_BASE):
        return None
    system, _, value = criteria.removeprefix("identifier=").partition("|")
    return system.rsplit("/", 1)[-1], value


def _held(res_type: str, kind: str, value: str) -> tuple[str | None] | None:
    """For an entry keyed by a minted id: (the held resource's `Type/id`, or None when nothing
    refers to it by the entry); None when the entry is the record's own."""
    if kind in OWN_KINDS or kind in FOLLOWS:
        held = minted_id(value)
        if held is None:
            return None
        if kind in FOLLOWS:
            return (None,)
        return (f"{res_type}/{held[1]}",) if held[0] == _TAGS.get(res_type, "X") else None
    if kind == "caregiver-of":
        held = minted_id(value.split("/", 1)[0])
        return (f"RelatedPerson/{held[1]}",) if held is not None and held[0] == "R" else None
    return None


def _find_parent_by_link(request: dict[str, Any], value: str) -> None:
    """A parent whose Patient the record names by a minted id (the mother of a maternity or
    perinatal mental health record) is, as a caregiver, the RelatedPerson her Patient links to:
    the caregiver entry is made conditional on that link (and on the baby, when the record names
    the baby by a minted id too), so the RelatedPerson Dyad holds is found, not a second made."""
    parent, _, baby = value.partition("/")
    held_parent, held_baby = minted_id(parent), minted_id(baby)
    if held_parent is None or held_parent[0] != "P":
        return
    criteria = f"_has:Patient:link:_id={held_parent[1]}"
    if held_baby is not None and held_baby[0] == "P":
        criteria += f"&patient=Patient/{held_baby[1]}"
    request["ifNoneExist"] = criteria


def recognise_minted(bundle: dict[str, Any]) -> list[Unmappable]:
    """Leave out of the Bundle what the record names by a minted id, refer to the held resources
    instead, and drop minted values from the identifiers of what is written. Returns what was
    left out, to be listed."""
    targets: dict[str, str] = {}
    kept, left_out = [], []
    for entry in bundle.get("entry") or []:
        resource, request = entry.get("resource") or {}, entry.get("request") or {}
        key = _key(request)
        if key is not None and key[0] == "caregiver-of":
            _find_parent_by_link(request, key[1])
        held = _held(str(resource.get("resourceType")), *key) if key else None
        if key is None or held is None:
            kept.append(entry)
            continue
        if held[0] is not None and entry.get("fullUrl"):
            targets[entry["fullUrl"]] = held[0]
        left_out.append(f"{resource.get('resourceType')} {key[1]}")
    for entry in kept:
        if targets:
            entry["resource"] = _rewritten(entry["resource"], targets)
        key = _key(entry.get("request") or {})
        _drop_minted_identifiers(entry["resource"], keeping=key[1] if key else None)
    bundle["entry"] = kept
    if not left_out:
        return []
    return [
        Unmappable(
            "record content named by a Dyad-minted id",
            "Dyad holds it from another system; the record refers to it and does not overwrite it",
            tuple(left_out),
        )
    ]


def _rewritten(node: Any, targets: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: targets.get(v, v) if k == "reference" and isinstance(v, str) else _rewritten(v, targets)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewritten(item, targets) for item in node]
    return node


def _drop_minted_identifiers(resource: dict[str, Any], keeping: str | None) -> None:
    """Minted values are not the system's ids; the one the entry is still keyed by stays, so
    that a re-sent record finds what the first made rather than making another."""
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return
    own = [i for i in identifiers if not _minted_local_id(i) or i.get("value") == keeping]
    if own:
        resource["identifier"] = own
    else:
        resource.pop("identifier", None)


def _minted_local_id(identifier: Any) -> bool:
    """A minted id as a resource's own local id (kept: a derived key made from one, which is
    stable and this system's, e.g. its episode of care for a child it had no id for)."""
    if not isinstance(identifier, dict) or minted_id(identifier.get("value")) is None:
        return False
    system = str(identifier.get("system") or "")
    return system.startswith(LOCAL_ID_BASE) and system.rsplit("/", 1)[-1] in OWN_KINDS
