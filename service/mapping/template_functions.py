"""FHIRPath functions the mapping templates may call, and the per-run state they report into.

Templates stay declarative: code translation goes through ConceptMaps (`translate`,
`translateCode`, `localCode`), references are followed inside the Bundle (`deref`, `key`),
urn:uuid fullUrls are derived from business keys (`urn`), and UK local date/times are turned
into FHIR dateTimes with the right offset (`londonDateTime`, `londonDate`, `londonTime`).
The functions learn about the current record through a ContextVar, so one compiled template
serves every run, including concurrent ones under asyncio.
"""

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from service.mapping.expressions import Collection, MappingFunction
from service.mapping.local_ids import local_id
from service.mapping.results import MappingIssue, Unmappable
from service.mapping.translation import CodedField, CodeTranslator

LONDON = ZoneInfo("Europe/London")
_URN_NAMESPACE = uuid.UUID("5b0f6d8e-8f0a-4c55-9d1c-6d7961640001")


@dataclass(slots=True)
class RunState:
    """What one mapping run has learned; read by the engine when the template is done."""

    translator: CodeTranslator
    salt: str = ""
    index: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    issues: list[MappingIssue] = field(default_factory=list)
    unmappable: list[Unmappable] = field(default_factory=list)
    approximate: set[str] = field(default_factory=set)  # fields held by a wider/narrower concept
    urns: set[str] = field(default_factory=set)  # every urn:uuid the template asked for

    def coded_field(self, name: str) -> CodedField:
        found = self.translator.fields.get(name)
        if found is None:
            raise KeyError(f"'{name}' is not declared in mapping.json codedFields")
        return found

    def index_bundle(self, bundle: dict[str, Any]) -> None:
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            names = []
            if resource.get("id"):
                names.append(f"{resource.get('resourceType')}/{resource['id']}")
            if entry.get("fullUrl"):
                names.append(entry["fullUrl"])
            for name in names:
                self.index[name] = resource
            if names:
                self.keys[id(resource)] = names[0]


_RUN: ContextVar[RunState] = ContextVar("dyad_mapping_run")


def current_run() -> RunState:
    return _RUN.get()


def start_run(state: RunState) -> object:
    return _RUN.set(state)


def end_run(token: object) -> None:
    _RUN.reset(token)  # type: ignore[arg-type]


# --- codes ---------------------------------------------------------------------------------


def _translate(focus: Collection, field_name: str) -> Collection:
    """Local codes -> Codings: the ConceptMap's Dyad codings, then the local coding itself."""
    run = current_run()
    coded = run.coded_field(field_name)
    out: Collection = []
    for code in focus:
        code = str(code)
        if coded.to_dyad is not None:
            found = run.translator.to_dyad(coded, code)
            if not found.known:
                _unknown_code(run, coded, code)
                continue
            out.extend(dict(c) for c in found.codings)
        out.append({"system": coded.system, "code": code})
    return out


def _translate_code(focus: Collection, field_name: str) -> Collection:
    """Local codes -> bare Dyad codes, for elements that hold a code and nothing else."""
    run = current_run()
    coded = run.coded_field(field_name)
    out: Collection = []
    for code in focus:
        code = str(code)
        found = run.translator.to_dyad(coded, code)
        if not found.known:
            _unknown_code(run, coded, code)
        elif found.codings:
            out.append(found.codings[0]["code"])
            if not found.exact and not coded.local_coding_kept:
                run.approximate.add(field_name)
                run.issues.append(
                    MappingIssue(
                        "information",
                        "informational",
                        field_name,
                        f"{field_name} '{code}' is held as '{found.codings[0]['code']}', a concept that is "
                        f"not its exact equivalent ({coded.to_dyad}); it may come back as another code",
                        code,
                        coded.to_dyad,
                    )
                )
    return out


def _local_code(focus: Collection, field_name: str) -> Collection:
    """Dyad CodeableConcepts/Codings/codes -> this system's code for the field, or listed as unmappable."""
    if not focus:
        return []
    run = current_run()
    coded = run.coded_field(field_name)
    found = run.translator.from_dyad(coded, focus)
    if found.code is None:
        run.unmappable.append(
            Unmappable(
                field_name,
                f"no {field_name} code for this value"
                + (f" in ConceptMap {coded.from_dyad}" if coded.from_dyad else ""),
                found.tried,
            )
        )
        return []
    if not found.exact:
        run.approximate.add(field_name)
    return [found.code]


def _coding(focus: Collection, system: Any) -> Collection:
    """Dyad codes -> Codings with their display, for fields that hold Dyad codes already."""
    translator = current_run().translator
    return [c for code in focus if (c := translator.coding(str(system), str(code))) is not None]


def _unknown_code(run: RunState, coded: CodedField, code: str) -> None:
    run.issues.append(
        MappingIssue(
            "error",
            "code-invalid",
            coded.field,
            f"{coded.field} code '{code}' is not in ConceptMap {coded.to_dyad}",
            code,
            coded.to_dyad,
        )
    )


# --- references ----------------------------------------------------------------------------


def _deref(focus: Collection) -> Collection:
    run = current_run()
    out: Collection = []
    for ref in focus:
        target = ref.get("reference") if isinstance(ref, dict) else ref
        if not isinstance(target, str):
            continue
        found = run.index.get(target)
        if found is None and "/" in target:
            # Absolute or versioned references: match on Type/id.
            parts = target.split("/_history/")[0].rstrip("/").split("/")
            found = run.index.get("/".join(parts[-2:]))
        if found is not None:
            out.append(found)
    return out


def _key(focus: Collection) -> Collection:
    keys = current_run().keys
    return [keys[id(r)] for r in focus if id(r) in keys]


def _local_id(focus: Collection, kind: Any, organisation: Any) -> Collection:
    """Resources -> the organisation's own local ids for them, or Dyad-minted ones (never Dyad's
    logical id as if it were the system's: see service.mapping.local_ids)."""
    out: Collection = []
    for resource in focus:
        if isinstance(resource, dict):
            found = local_id(resource, str(kind), organisation if isinstance(organisation, str) else None)
            if found is not None:
                out.append(found)
            else:
                current_run().unmappable.append(
                    Unmappable(
                        f"{resource.get('resourceType')} local id",
                        "Dyad's id for it is too long for the data set's field and it has none of this system's",
                        (str(resource.get("id")),),
                    )
                )
    return out


def _urn(_focus: Collection, kind: Any, key: Any) -> Collection:
    if key is None:
        return []
    run = current_run()
    urn = _urn_for(f"{run.salt}|{kind}|{key}")
    run.urns.add(urn)
    return [urn]


@lru_cache(maxsize=4096)
def _urn_for(name: str) -> str:
    # Deterministic: the same record gives the same fullUrls, so a re-sent Bundle is identical.
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, name)}"


# --- dates ---------------------------------------------------------------------------------


def _london_datetime(focus: Collection, time: Any) -> Collection:
    """A UK local date (and time) -> FHIR dateTime; with a time it carries the UK offset of that day."""
    out: Collection = []
    for day in focus:
        if time is None:
            out.append(str(day))
            continue
        clock = str(time) if len(str(time)) > 5 else f"{time}:00"
        local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LONDON)
        out.append(local.isoformat())
    return out


def _london_date(focus: Collection) -> Collection:
    return [_in_london(v)[0] for v in focus if isinstance(v, str)]


def _london_time(focus: Collection) -> Collection:
    return [t for v in focus if isinstance(v, str) and (t := _in_london(v)[1]) is not None]


def _in_london(value: str) -> tuple[str, str | None]:
    if "T" not in value:
        return value[:10], None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(LONDON)
    return moment.date().isoformat(), moment.strftime("%H:%M:%S")


def _plus_days(focus: Collection, days: Any) -> Collection:
    return [(date.fromisoformat(str(v)[:10]) + timedelta(days=int(days))).isoformat() for v in focus]


FUNCTIONS: dict[str, tuple[MappingFunction, int]] = {
    "translate": (_translate, 1),
    "translateCode": (_translate_code, 1),
    "localCode": (_local_code, 1),
    "coding": (_coding, 1),
    "deref": (_deref, 0),
    "key": (_key, 0),
    "urn": (_urn, 2),
    "localId": (_local_id, 2),
    "londonDateTime": (_london_datetime, 1),
    "londonDate": (_london_date, 0),
    "londonTime": (_london_time, 0),
    "plusDays": (_plus_days, 1),
}
