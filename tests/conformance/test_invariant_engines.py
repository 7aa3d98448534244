"""The three ways an invariant can run (a direct dict check, the closure compiler, fhirpathpy)
must agree, on every example and on resources built to break each rule."""

import json
from typing import Any

import jsonpatch
import pytest

from service.conformance.package import ProfilePackage
from service.conformance.validation.fhirpath_fast import compile_fast
from service.conformance.validation.invariants import NATIVE, fhirpath_evaluator
from tests.conformance.conftest import EXAMPLES, INVALID, PROFILES
from tests.conformance.test_invalid_corpus import CASES, example

def load_base_invariants(profiles: Any) -> list[dict[str, Any]]:
    """The base R4 invariants the direct dict checks were written for."""
    return list(json.loads((profiles / "base" / "invariants-r4.json").read_text()).get("invariants") or [])


INSTANCES: list[dict[str, Any]] = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
INSTANCES += [json.loads(p.read_text()) for p in sorted(INVALID.glob("*.json")) if p.name != "expected.json"]
INSTANCES += [jsonpatch.apply_patch(example(name), patch) for _, name, patch, *_ in CASES]


def _contexts(resource: dict[str, Any], path: str) -> list[Any]:
    steps = path.split(".")
    if steps[0] not in (resource.get("resourceType"), "DomainResource"):
        return []
    current = [resource]
    for step in steps[1:]:
        following = []
        for item in current:
            value = item.get(step) if isinstance(item, dict) else None
            following.extend(value if isinstance(value, list) else [value] if value is not None else [])
        current = following
    return current


def _profile_constraints(package: ProfilePackage) -> list[tuple[str, str]]:
    found = []
    for sd in package.of_type("StructureDefinition"):
        for element in (sd.get("differential") or {}).get("element") or []:
            for constraint in element.get("constraint") or []:
                found.append((element["path"], constraint["expression"]))
    return found


@pytest.mark.parametrize("spec", [s for s in load_base_invariants(PROFILES) if s["key"] in NATIVE], ids=lambda s: s["key"])
def test_native_base_invariant_agrees_with_fhirpath(spec: dict[str, Any]) -> None:
    text, native = NATIVE[spec["key"]]
    assert text == spec["expression"], "the native check was written for this exact expression"
    reference = fhirpath_evaluator(spec["expression"], spec["path"])
    for resource in INSTANCES:
        for value in _contexts(resource, spec["path"]):
            fast = native(value, resource)
            if fast is not None:
                assert fast == reference(value, resource), (spec["key"], resource.get("id"))


def test_compiled_profile_invariants_agree_with_fhirpath(package: ProfilePackage) -> None:
    checked = 0
    for path, expression in _profile_constraints(package):
        compiled, reference = compile_fast(expression), fhirpath_evaluator(expression, path)
        for resource in INSTANCES:
            for value in _contexts(resource, path):
                result = compiled(value, resource)
                fast = not (len(result) == 1 and result[0] is False) if result else True
                assert fast == reference(value, resource), (expression, resource.get("id"))
                checked += 1
    assert checked > 100
