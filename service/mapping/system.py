"""One source system's mapping folder, loaded once, run in both directions.

mappings/<system>/
  mapping.json       manifest: name, version, record id field, point of view, coded fields,
                     what Dyad cannot hold from the record and what the record cannot hold
  schema.json        JSON Schema (2020-12) of the record, in the data set's own field names
  inbound.json       fpml template: record -> FHIR transaction Bundle
  outbound.json      fpml template: Dyad's Bundle -> record, from the system's point of view
  conceptmaps/*.json ConceptMaps between the system's local codes and Dyad's codes
  samples/*.json     synthetic records
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fpml import FPMLValidationError

from service.mapping.expressions import ExpressionCompiler
from service.mapping.local_ids import recognise_minted
from service.mapping.provenance import provenance_entry, record_source, stamp_sources
from service.mapping.record_schema import RecordSchema
from service.mapping.results import MappingIssue, MappingResult, Unmappable
from service.mapping.template_functions import FUNCTIONS, RunState, end_run, start_run
from service.mapping.templates import compile_template
from service.mapping.translation import CodedField, CodeTranslator


@dataclass(frozen=True, slots=True)
class NotHeld:
    """A record field, or FHIR content, that the other side has no place for."""

    field: str
    reason: str
    expression: str | None = None  # outbound: FHIRPath over %resources/%subject that finds it


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    title: str
    version: str
    data_set: str
    record_id_field: str
    organisation_field: str | None
    point_of_view: str  # "mother" or "infant": whose record this system keeps
    subject_candidates: str  # FHIRPath over %resources: the Patients who can be the record's subject
    coded_fields: dict[str, CodedField]
    not_held_by_dyad: tuple[NotHeld, ...]
    not_held_by_system: tuple[NotHeld, ...]

    @classmethod
    def read(cls, data: dict[str, Any]) -> "Manifest":
        coded = {
            name: CodedField(
                name, spec["system"], spec.get("toDyad"), spec.get("fromDyad"), spec.get("localCodingKept", False)
            )
            for name, spec in (data.get("codedFields") or {}).items()
        }
        return cls(
            name=data["name"],
            title=data.get("title", data["name"]),
            version=data["version"],
            data_set=data.get("dataSet", ""),
            record_id_field=data["recordIdField"],
            organisation_field=data.get("organisationField"),
            point_of_view=data["subject"]["pointOfView"],
            subject_candidates=data["subject"]["candidates"],
            coded_fields=coded,
            not_held_by_dyad=tuple(NotHeld(n["field"], n["reason"]) for n in data.get("notHeldByDyad") or []),
            not_held_by_system=tuple(
                NotHeld(n["field"], n["reason"], n.get("expression")) for n in data.get("notHeldBySystem") or []
            ),
        )


def _read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


class MappingSystem:
    def __init__(
        self,
        folder: Path,
        shared_concept_maps: list[dict[str, Any]] | None = None,
        code_systems: list[dict[str, Any]] | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = Manifest.read(_read_json(folder / "mapping.json"))
        self.schema = RecordSchema(_read_json(folder / "schema.json"))
        self.inbound_template = _read_json(folder / "inbound.json")
        self.outbound_template = _read_json(folder / "outbound.json")
        own = [_read_json(p) for p in sorted((folder / "conceptmaps").glob("*.json"))]
        self.concept_maps = own + list(shared_concept_maps or ())
        self.translator = CodeTranslator(self.concept_maps, self.manifest.coded_fields, code_systems)
        self._check_coded_fields()
        self.compiler = ExpressionCompiler(FUNCTIONS)
        self.inbound = compile_template(self.inbound_template, self.compiler.compiled)
        self.outbound = compile_template(self.outbound_template, self.compiler.compiled)

    @property
    def name(self) -> str:
        return self.manifest.name

    def samples(self) -> dict[str, dict[str, Any]]:
        return {p.stem: _read_json(p) for p in sorted((self.folder / "samples").glob("*.json"))}

    def _check_coded_fields(self) -> None:
        for coded in self.manifest.coded_fields.values():
            for url in (coded.to_dyad, coded.from_dyad):
                if url is not None and not self.translator.has_map(url):
                    raise ValueError(
                        f"{self.folder}/mapping.json: {coded.field} names ConceptMap {url}, not in conceptmaps/"
                    )

    # --- record -> FHIR ------------------------------------------------------------------------

    def to_fhir(self, record: Any) -> MappingResult:
        issues = self.schema.check(record)
        if issues:
            return MappingResult(issues=issues)
        record_id = str(record[self.manifest.record_id_field])
        run = RunState(self.translator, salt=f"{self.name}|{record_id}")
        token = start_run(run)
        try:
            bundle = self.inbound(record, {"record": record})
        except FPMLValidationError as exc:
            return MappingResult(issues=[MappingIssue("error", "exception", exc.error_path, str(exc))])
        finally:
            end_run(token)
        unmappable = _present(record, self.manifest.not_held_by_dyad) + recognise_minted(bundle)
        result = MappingResult(
            issues=run.issues + _dangling(bundle, run.urns),
            unmappable=unmappable + _unique(run.unmappable),
            approximate=run.approximate,
        )
        if not result.ok:
            return result
        organisation = record.get(self.manifest.organisation_field) if self.manifest.organisation_field else None
        stamp_sources(bundle, record_source(self.name, organisation, record_id))
        bundle["entry"].append(
            provenance_entry(
                bundle,
                system=self.name,
                title=self.manifest.title,
                version=self.manifest.version,
                organisation=organisation,
                record_id=record_id,
                record_id_field=self.manifest.record_id_field,
                fullurl=f"urn:uuid:{uuid.uuid4()}",
            )
        )
        result.bundle = bundle
        return result

    # --- FHIR -> record ------------------------------------------------------------------------

    def from_fhir(
        self, bundle: dict[str, Any], subject: str | None = None, organisation: str | None = None
    ) -> MappingResult:
        """The record this system would keep of what `bundle` holds.

        subject: NHS number (or other identifier value) or Patient/id of the record's subject
        (the mother, or for health visiting the child) when the Bundle holds several families.
        organisation: ODS code the record is rendered for; by default the organisation that sent
        the data (from Provenance), else the provider of its contacts.
        """
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            return MappingResult(issues=[MappingIssue("error", "invalid", "resourceType", "expected a FHIR Bundle")])
        run = RunState(self.translator)
        run.index_bundle(bundle)
        resources = [e["resource"] for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict)]
        variables: dict[str, Any] = {"resources": resources, "organisation": organisation}
        token = start_run(run)
        try:
            chosen = self._subject(resources, variables, subject)
            if isinstance(chosen, MappingIssue):
                return MappingResult(issues=[chosen])
            variables["subject"] = chosen
            record = self.outbound(chosen, variables)
            for not_held in self.manifest.not_held_by_system:
                assert not_held.expression is not None
                found = self.compiler.compiled(not_held.expression)(chosen, variables)
                if found:
                    run.unmappable.append(Unmappable(not_held.field, not_held.reason, tuple(_brief(v) for v in found)))
        except FPMLValidationError as exc:
            return MappingResult(issues=[MappingIssue("error", "exception", exc.error_path, str(exc))])
        finally:
            end_run(token)
        # A record Dyad renders must be one the system would accept back.
        issues = run.issues + [
            MappingIssue("error", i.code, i.field, f"rendered record: {i.message}", i.value)
            for i in self.schema.check(record)
        ]
        return MappingResult(
            record=record, issues=issues, unmappable=_unique(run.unmappable), approximate=run.approximate
        )

    def _subject(
        self, resources: list[dict[str, Any]], variables: dict[str, Any], subject: str | None
    ) -> dict[str, Any] | MappingIssue:
        candidates = self.compiler.compiled(self.manifest.subject_candidates)(None, variables)
        if subject is not None:
            candidates = [p for p in candidates if _is(p, subject)]
        unique = {id(p): p for p in candidates}
        if len(unique) == 1:
            return next(iter(unique.values()))
        who = "the mother" if self.manifest.point_of_view == "mother" else "the infant"
        found = "no" if not unique else f"{len(unique)}"
        return MappingIssue(
            "error",
            "not-found" if not unique else "multiple-matches",
            "subject",
            f"{found} candidates for {who} (the subject of a {self.manifest.title} record) in the Bundle"
            + ("" if subject is None else f" matching '{subject}'")
            + ("; name one with subject=" if unique else ""),
        )


def _dangling(bundle: dict[str, Any], urns: set[str]) -> list[MappingIssue]:
    """References to things the record names but does not contain (an id with no row behind it).

    Every urn:uuid comes from the template's urn(); only when one is not a fullUrl is the
    Bundle walked to say where it was used.
    """
    full_urls = {e.get("fullUrl") for e in bundle.get("entry") or []}
    if urns <= full_urls:
        return []
    issues = []
    for entry in bundle.get("entry") or []:
        resource = entry["resource"]
        for path, target in _urn_references(resource, resource["resourceType"]):
            if target not in full_urls:
                issues.append(
                    MappingIssue(
                        "error",
                        "invalid",
                        path,
                        f"{path} names an id the record does not contain (check the ids it cross-refers: "
                        "caregivers, contacts, assessments)",
                    )
                )
    return issues


def _urn_references(node: Any, path: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value.startswith("urn:uuid:"):
                yield path, value
            else:
                yield from _urn_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _urn_references(item, path)


def _unique(items: list[Unmappable]) -> list[Unmappable]:
    return list(dict.fromkeys(items))


def _is(patient: dict[str, Any], subject: str) -> bool:
    """subject: an NHS number, any identifier value, or Patient/id."""
    if subject == f"Patient/{patient.get('id')}":
        return True
    value = subject.split("|", 1)[-1]
    return any(i.get("value") == value for i in patient.get("identifier") or [])


def _present(record: Any, not_held: tuple[NotHeld, ...]) -> list[Unmappable]:
    """The record's values of fields Dyad cannot hold, found in one walk."""
    if not not_held:
        return []
    wanted = {n.field: n for n in not_held}
    found: dict[str, list[str]] = {}
    stack = [record]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in wanted:
                    found.setdefault(key, []).append(str(value))
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return [Unmappable(f, wanted[f].reason, tuple(found[f])) for f in wanted if f in found]


def _brief(value: Any) -> str:
    if isinstance(value, dict):
        if "coding" in value:
            return ", ".join(c.get("code", "") for c in value["coding"])
        if "reference" in value:
            return str(value["reference"])
        if "text" in value:
            return str(value["text"])[:60]
        return str(value.get("resourceType") or sorted(value))[:60]
    return str(value)[:60]
