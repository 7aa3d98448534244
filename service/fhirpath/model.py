"""What the engine knows about FHIR R4 types: an element's type, choice elements, inheritance.

The engine asks only through `TypeModel`, so the table behind it can be swapped (for the
compiled R4 core StructureDefinitions once the validator carries them). Today's table is the
R4 model fhirpathpy ships as data (path2Type, choiceTypePaths, type2Parent,
pathsDefinedElsewhere), which is derived from the R4 StructureDefinitions.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from fhirpathpy.models import models

# FHIR primitive type -> the FHIRPath System type its value is read as.
PRIMITIVES: dict[str, str] = {
    "boolean": "Boolean",
    "integer": "Integer",
    "positiveInt": "Integer",
    "unsignedInt": "Integer",
    "integer64": "Integer",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
    "string": "String",
    "code": "String",
    "id": "String",
    "uri": "String",
    "url": "String",
    "canonical": "String",
    "oid": "String",
    "uuid": "String",
    "markdown": "String",
    "base64Binary": "String",
    "xhtml": "String",
}
_SYSTEM_PRIMITIVE = {"System.String": "string", "System.Boolean": "boolean", "System.Integer": "integer"}
_BACKBONE = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True, slots=True)
class Child:
    """One way an element can appear in JSON: its key, its FHIR type and the model path of its
    own children (the type name, or the element path for a backbone element)."""

    key: str
    type: str | None
    path: str | None
    ext_key: str = ""  # the `_key` element holding a primitive's id and extensions

    def __post_init__(self) -> None:
        object.__setattr__(self, "ext_key", "_" + self.key)


class TypeModel(Protocol):
    def __hash__(self) -> int: ...

    def children(self, path: str, name: str) -> tuple[Child, ...] | None:
        """The JSON keys `name` may appear under on an element at model `path`; None if the
        model does not know the element (an unknown path, or a name the type does not have)."""
        ...

    def is_subtype(self, type_name: str, ancestor: str) -> bool: ...

    def knows(self, path: str) -> bool:
        """Whether the model describes elements at this path (so an unknown name is an error)."""
        ...

    def is_resource(self, type_name: str) -> bool: ...

    def is_type(self, type_name: str) -> bool:
        """Whether the name is a FHIR type the model knows (for is/as/ofType)."""
        ...


class R4Model:
    """fhirpathpy's R4 tables behind the TypeModel interface."""

    def __init__(self) -> None:
        data = models["r4"]
        self._types: dict[str, str] = data["path2Type"]
        self._choices: dict[str, list[str]] = data["choiceTypePaths"]
        self._parents: dict[str, str] = data["type2Parent"]
        self._elsewhere: dict[str, str] = data["pathsDefinedElsewhere"]
        self._known_paths = frozenset(p.rsplit(".", 1)[0] for p in list(self._types) + list(self._choices))
        # path2Type also lists each choice by its JSON name (Observation.valueQuantity): not FHIRPath
        self._json_choice_names = frozenset(
            f"{path}{t[:1].upper()}{t[1:]}" for path, types in self._choices.items() for t in types
        )

    def is_type(self, type_name: str) -> bool:
        return type_name in self._parents or type_name in PRIMITIVES

    def knows(self, path: str) -> bool:
        return path in self._known_paths or path in self._parents

    def is_resource(self, type_name: str) -> bool:
        return self.is_subtype(type_name, "Resource")

    def is_subtype(self, type_name: str, ancestor: str) -> bool:
        current: str | None = type_name
        while current is not None:
            if current == ancestor:
                return True
            current = self._parents.get(current)
        return False

    @lru_cache(maxsize=8192)  # noqa: B019 - one model per process, the cache lives with it
    def children(self, path: str, name: str) -> tuple[Child, ...] | None:
        for owner in self._lineage(path):
            found = self._own(owner, name)
            if found is not None:
                return found
        return None

    def _lineage(self, path: str) -> list[str]:
        owners = [path]
        if "." not in path:
            current = self._parents.get(path)
            while current is not None:
                owners.append(current)
                current = self._parents.get(current)
        else:
            owners.append("BackboneElement")
            owners.append("Element")
        return owners

    def _own(self, owner: str, name: str) -> tuple[Child, ...] | None:
        full = f"{owner}.{name}"
        if full in self._choices:
            return tuple(Child(name + t[:1].upper() + t[1:], _fhir_type(t), _fhir_type(t)) for t in self._choices[full])
        if full in self._elsewhere:
            target = self._elsewhere[full]
            return (Child(name, "BackboneElement", target),)
        type_name = self._types.get(full) if full not in self._json_choice_names else None
        if type_name is None and full in self._json_choice_names:
            return None
        if type_name is None:
            # path2Type lists backbone elements only through their children
            return (Child(name, "BackboneElement", full),) if full in self._known_paths else None
        type_name = _SYSTEM_PRIMITIVE.get(type_name, type_name)
        if type_name in _BACKBONE:
            return (Child(name, "BackboneElement", full),)
        return (Child(name, type_name, type_name),)


def _fhir_type(choice_suffix: str) -> str:
    """choiceTypePaths names types capitalised (DateTime); FHIR's primitive names are not."""
    lowered = choice_suffix[:1].lower() + choice_suffix[1:]
    return lowered if lowered in PRIMITIVES else choice_suffix


R4 = R4Model()
