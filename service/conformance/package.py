"""The implementation guide in `profiles/`, read once from disk."""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from service.conformance.supported import DEFINITION_TYPES

# examples/ holds instances, not definitions; package/ is `dyad package` output.
_NOT_DEFINITIONS = {"examples", "package"}


@dataclass(frozen=True)
class ProfilePackage:
    resources: tuple[dict[str, Any], ...]
    digest: str

    def of_type(self, res_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == res_type]

    def search_parameters(self) -> list[dict[str, Any]]:
        return self.of_type("SearchParameter")

    def resource_profiles(self) -> dict[str, str]:
        """The guide's profiles of resources (not extensions), by short name (id) to canonical URL."""
        return {
            str(sd["id"]): str(sd["url"])
            for sd in self.of_type("StructureDefinition")
            if sd.get("kind") == "resource" and sd.get("derivation") == "constraint" and sd.get("id") and sd.get("url")
        }

    def profile_url(self, given: str) -> str | None:
        """A profile named by its canonical URL, id or name; None when the guide has no such profile."""
        for sd in self.of_type("StructureDefinition"):
            if sd.get("kind") == "resource" and given in (sd.get("url"), sd.get("id"), sd.get("name")):
                return str(sd["url"])
        return None


def load_package(profiles_dir: Path, mappings_dir: Path | None = None) -> ProfilePackage:
    """Every conformance resource under profiles_dir; Bundles are opened into their entries.

    With mappings_dir, the source systems' ConceptMaps (mappings/*/conceptmaps/) join the
    guide, so that $translate and search see the codes the mappings translate.
    """
    files = sorted(_definition_files(profiles_dir), key=lambda p: _load_order(profiles_dir, p))
    if mappings_dir is not None and mappings_dir.is_dir():
        files += sorted(mappings_dir.glob("*/conceptmaps/*.json"))
    digest = hashlib.sha256()
    resources: list[dict[str, Any]] = []
    for path in files:
        raw = path.read_bytes()
        digest.update(path.as_posix().encode())
        digest.update(raw)
        resources.extend(_conformance_resources(orjson.loads(raw)))
    return ProfilePackage(tuple(resources), digest.hexdigest())


def _load_order(profiles_dir: Path, path: Path) -> tuple[bool, str]:
    """The base spec's definitions (base/) first, so Dyad's own win where both define a thing."""
    relative = path.relative_to(profiles_dir)
    return relative.parts[0] != "base", relative.as_posix()


def _definition_files(profiles_dir: Path) -> Iterator[Path]:
    if not profiles_dir.is_dir():
        return
    for path in profiles_dir.rglob("*.json"):
        relative = path.relative_to(profiles_dir)
        if not _NOT_DEFINITIONS.intersection(relative.parts[:-1]):
            yield path


def _conformance_resources(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict):
        return
    if document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            yield from _conformance_resources(entry.get("resource"))
    elif document.get("resourceType") in DEFINITION_TYPES and document.get("id"):
        yield document
