"""The FHIR R4 (4.0.1) core definitions in the compact form build.py writes (core-r4.json.gz)."""

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

DATA = Path(__file__).resolve().parent / "core-r4.json.gz"
_LISTED = 12  # a binding error lists the codes of a value set up to this size


@dataclass(frozen=True)
class CoreDefinitions:
    types: dict[str, dict[str, Any]]
    constraints: list[list[Any]]
    valuesets: dict[str, dict[str, list[str]]]
    valueset_titles: dict[str, str]
    extensions: dict[str, list[list[str]]]
    provenance: dict[str, Any]

    def codes(self, valueset: str) -> dict[str, list[str]] | None:
        """system -> codes of a required binding's value set; None where R4 cannot expand it."""
        return self.valuesets.get(valueset.split("|", 1)[0])

    def describe(self, valueset: str) -> str:
        """What a binding allows, for a message: the codes themselves when there are few."""
        url = valueset.split("|", 1)[0]
        codes = sorted({c for values in (self.codes(url) or {}).values() for c in values})
        title = self.valueset_titles.get(url) or url
        if 0 < len(codes) <= _LISTED:
            return f"one of {', '.join(codes)} (ValueSet {title}, {url})"
        return f"a code from ValueSet {title} ({url}, {len(codes)} codes)"


@functools.cache
def core_definitions(path: Path = DATA) -> CoreDefinitions:
    data = orjson.loads(gzip.decompress(path.read_bytes()))
    return CoreDefinitions(
        types=data["types"],
        constraints=data["constraints"],
        valuesets=data["valuesets"],
        valueset_titles=data["valueset_titles"],
        extensions=data["extensions"],
        provenance=data["provenance"],
    )


def is_resource_type(name: str) -> bool:
    """Whether `name` is a concrete R4 resource type (what $validate accepts at type level)."""
    spec = core_definitions().types.get(name)
    return spec is not None and spec["kind"] == "resource" and not spec.get("abstract")
