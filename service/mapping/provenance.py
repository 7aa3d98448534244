"""Where mapped resources came from: meta.source on each, and one Provenance for the Bundle."""

from datetime import UTC, datetime
from typing import Any

CANONICAL_BASE = "https://w3id.org/dyad/fhir"
ODS_ORGANISATION = "https://fhir.nhs.uk/Id/ods-organization-code"


def record_source(system: str, organisation: str | None, record_id: str) -> str:
    """meta.source: the source system (and its organisation) with the record as fragment."""
    where = f"{CANONICAL_BASE}/source/{system}" + (f"/{organisation}" if organisation else "")
    return f"{where}#{record_id}"


def mapping_canonical(system: str, version: str) -> str:
    return f"{CANONICAL_BASE}/mappings/{system}/{version}"


def stamp_sources(bundle: dict[str, Any], source: str) -> None:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource")
        if isinstance(resource, dict):
            # A new meta: the template's literal meta (profile) is shared between outputs.
            resource["meta"] = {**(resource.get("meta") or {}), "source": source}


def provenance_entry(
    bundle: dict[str, Any],
    *,
    system: str,
    title: str,
    version: str,
    organisation: str | None,
    record_id: str,
    record_id_field: str,
    fullurl: str,
    recorded: datetime | None = None,
) -> dict[str, Any]:
    """A Provenance naming every resource the record produced, the record, the sender and the mapping."""
    targets = [{"reference": e["fullUrl"]} for e in bundle.get("entry") or [] if e.get("fullUrl")]
    sender: dict[str, Any] = {"display": f"{title} ({system})"}
    if organisation:
        sender["identifier"] = {"system": ODS_ORGANISATION, "value": organisation}
    canonical = mapping_canonical(system, version)
    provenance = {
        "resourceType": "Provenance",
        "meta": {"source": record_source(system, organisation, record_id)},
        "target": targets,
        "recorded": (recorded or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "policy": [canonical],
        "activity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                    "code": "UPDATE",
                    "display": "revise",
                }
            ]
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "author",
                            "display": "Author",
                        }
                    ]
                },
                "who": sender,
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {
                        "system": f"{CANONICAL_BASE}/Id/source-record/{system}",
                        "value": record_id,
                    },
                    "display": f"{record_id_field} {record_id}",
                },
            }
        ],
    }
    return {"fullUrl": fullurl, "resource": provenance, "request": {"method": "POST", "url": "Provenance"}}
