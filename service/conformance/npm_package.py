"""The guide as a FHIR NPM package, the form HAPI, Firely and the IG tooling load."""

import base64
import gzip
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import orjson

from service.conformance.snapshots import with_snapshot
from service.conformance.supported import DEFINITION_TYPES

FHIR_VERSION = "4.0.1"


def build_package(profiles_dir: Path) -> dict[str, bytes]:
    """Every file of the package by its path inside the tarball (`package/...`)."""
    guide = _implementation_guide(profiles_dir)
    definitions = _with_snapshots(_read_all(sorted(profiles_dir.glob("*.json"))))
    examples = _read_all(sorted((profiles_dir / "examples").glob("*.json")))
    files: dict[str, bytes] = {}
    for resource in definitions:
        files[f"package/{_file_name(resource)}"] = orjson.dumps(resource)
    for resource in examples:
        files[f"package/example/{_file_name(resource)}"] = orjson.dumps(resource)
    files["package/package.json"] = orjson.dumps(_manifest(guide), option=orjson.OPT_INDENT_2)
    files["package/.index.json"] = orjson.dumps(_index(definitions), option=orjson.OPT_INDENT_2)
    files["package/example/.index.json"] = orjson.dumps(_index(examples), option=orjson.OPT_INDENT_2)
    return files


def package_name_and_version(profiles_dir: Path) -> tuple[str, str]:
    guide = _implementation_guide(profiles_dir)
    return str(guide["packageId"]), str(guide.get("version", "0.0.0"))


def tarball(files: dict[str, bytes]) -> bytes:
    """The .tgz, byte for byte the same for the same files (no times inside), so its checksums
    in a registry document stay valid across restarts and replicas."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0)


def checksums(archive: bytes) -> dict[str, str]:
    """What an NPM registry lists for a tarball: `shasum` (SHA-1, hex) and `integrity` (SRI SHA-512)."""
    sha512 = base64.b64encode(hashlib.sha512(archive).digest()).decode()
    return {"shasum": hashlib.sha1(archive).hexdigest(), "integrity": f"sha512-{sha512}"}


def write_folder(files: dict[str, bytes], out_dir: Path) -> None:
    for path, content in files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _implementation_guide(profiles_dir: Path) -> dict[str, Any]:
    for path in profiles_dir.glob("ImplementationGuide-*.json"):
        guide: dict[str, Any] = orjson.loads(path.read_bytes())
        if guide.get("packageId"):
            return guide
    raise FileNotFoundError(f"no ImplementationGuide with a packageId in {profiles_dir}")


def _with_snapshots(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every profile with its snapshot, which package consumers read (see snapshots.py)."""
    profiles = {
        str(d["url"]): d
        for d in definitions
        if d["resourceType"] == "StructureDefinition" and d.get("derivation") == "constraint"
    }
    return [with_snapshot(d, profiles) if d.get("url") in profiles and "snapshot" not in d else d for d in definitions]


def _read_all(paths: list[Path]) -> list[dict[str, Any]]:
    resources = []
    for path in paths:
        document = orjson.loads(path.read_bytes())
        if isinstance(document, dict) and document.get("resourceType") and document.get("id"):
            resources.append(document)
    return resources


def _file_name(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def _manifest(guide: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": guide["packageId"],
        "version": guide.get("version", "0.0.0"),
        "title": guide.get("title", guide.get("name")),
        "description": guide.get("description", ""),
        "canonical": guide["url"].split("/ImplementationGuide/")[0],
        "url": guide["url"].split("/ImplementationGuide/")[0],
        "fhirVersions": [FHIR_VERSION],
        "type": "fhir.ig",
        "license": guide.get("license", "CC0-1.0"),
        "author": guide.get("publisher", "Dyad"),
        "jurisdiction": "urn:iso:std:iso:3166#GB",
        "dependencies": {"hl7.fhir.r4.core": FHIR_VERSION},
    }


def _index(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"index-version": 1, "files": [_index_entry(r) for r in resources]}


def _index_entry(resource: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": _file_name(resource),
        "resourceType": resource["resourceType"],
        "id": resource["id"],
    }
    if resource["resourceType"] in DEFINITION_TYPES:
        for key in ("url", "version", "kind", "type"):
            if key in resource:
                entry[key] = resource[key]
    return entry
