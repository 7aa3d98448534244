"""Invariants run on service.fhirpath alone; fhirpathpy, an independent implementation, is the
reference its verdicts are checked against on every example and on resources built to break
each rule."""

import json
from typing import Any

import fhirpathpy
import jsonpatch
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from service.conformance.package import ProfilePackage
from service.conformance.validation.invariants import fhirpath_evaluator
from tests.conformance.conftest import EXAMPLES, INVALID, PROFILES
from tests.conformance.test_invalid_corpus import CASES, example


def load_base_invariants(profiles: Any) -> list[dict[str, Any]]:
    """The base R4 invariants Dyad once checked by hand, kept as a cross-check of the engine."""
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


def _reference(expression: str, path: str) -> Any:
    compiled = fhirpathpy.compile(expression, models["r4"])

    def holds(value: Any, root: dict[str, Any]) -> bool:
        focus = ResourceNode.create_node(value, path) if "." in path else value
        result = compiled(focus, {"resource": root, "rootResource": root})
        return not (len(result) == 1 and result[0] is False) if result else True

    return holds


def _checked_pairs(path: str, expression: str) -> int:
    engine, reference = fhirpath_evaluator(expression, path), _reference(expression, path)
    checked = 0
    for resource in INSTANCES:
        for value in _contexts(resource, path):
            assert engine(value, resource) == reference(value, resource), (expression, resource.get("id"))
            checked += 1
    return checked


# Invariants fhirpathpy cannot evaluate, so they are checked on their own below.
REFERENCE_CANNOT_RUN = {"dom-3": "fhirpathpy raises on `descendants().as(canonical)` (several items before `as`)"}


@pytest.mark.parametrize(
    "spec", [s for s in load_base_invariants(PROFILES) if s["key"] not in REFERENCE_CANNOT_RUN], ids=lambda s: s["key"]
)
def test_base_invariant_agrees_with_fhirpathpy(spec: dict[str, Any]) -> None:
    _checked_pairs(spec["path"], spec["expression"])


def test_profile_invariants_agree_with_fhirpathpy(package: ProfilePackage) -> None:
    checked = sum(_checked_pairs(path, expression) for path, expression in _profile_constraints(package))
    assert checked > 100


def test_dom_3_counts_a_contained_resource_referred_to_by_canonical() -> None:
    """A Questionnaire's answerValueSet '#vs1' (a canonical) refers to the contained ValueSet vs1;
    the native check this engine replaced counted only Reference.reference (issue 12)."""
    spec = next(s for s in load_base_invariants(PROFILES) if s["key"] == "dom-3")
    holds = fhirpath_evaluator(spec["expression"], spec["path"])
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "active",
        "contained": [{"resourceType": "ValueSet", "id": "vs1", "status": "active"}],
        "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs1"}],
    }
    assert holds(questionnaire, questionnaire) is True
    questionnaire["item"][0]["answerValueSet"] = "http://example.org/vs"
    assert holds(questionnaire, questionnaire) is False
    patient = {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Practitioner", "id": "p"}],
        "generalPractitioner": [{"reference": "#p"}],
    }
    assert holds(patient, patient) is True
    back = {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Provenance", "id": "v", "target": [{"reference": "#"}]}],
    }
    assert holds(back, back) is True
