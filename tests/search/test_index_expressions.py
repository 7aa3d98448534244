"""Search parameter expressions run on service.fhirpath; fhirpathpy, an independent
implementation, is the reference their index rows are checked against."""

import copy
import re
from collections.abc import Callable
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models

from service import fhirpath
from service.search.extract import indexers_for, rows_for_values
from service.search.registry import SearchRegistry
from tests.search.samples import ALL

_RESOLVE_IS = re.compile(r"resolve\(\)\s+is\s+([A-Za-z]+)")


def fhirpathpy_evaluator(expression: str) -> Callable[[dict[str, Any]], list[Any]]:
    """fhirpathpy, with `resolve() is T` (which it cannot run) answered from the reference text."""
    rewritten = _RESOLVE_IS.sub(
        lambda m: f"(reference.startsWith('{m[1]}/') or reference.contains('/{m[1]}/'))", expression
    )
    compiled = fhirpathpy.compile(rewritten, models["r4"])
    return lambda resource: list(compiled(resource, {}))


def _indexable(registry: SearchRegistry, res_type: str) -> list[Any]:
    return [
        p
        for p in registry.params_for(res_type).values()
        if p.expression is not None and p.type not in ("composite", "special")
    ]


@pytest.mark.parametrize("resource", ALL, ids=lambda r: r["resourceType"])
def test_engine_and_fhirpathpy_index_the_same_rows(registry: SearchRegistry, resource: dict[str, Any]) -> None:
    res_type = resource["resourceType"]
    compared = 0
    for param in _indexable(registry, res_type):
        try:
            expected = fhirpathpy_evaluator(param.expression)(copy.deepcopy(resource))
        except Exception:  # fhirpathpy refuses `as` on a collection; the engine is lenient there
            continue
        found = fhirpath.compile(param.expression).evaluate(resource)
        assert rows_for_values(param, found) == rows_for_values(param, expected), param.code
        compared += 1
    assert compared >= 10


def test_the_engine_finds_values_in_every_sample_type(registry: SearchRegistry) -> None:
    """Guards the equality test above against passing because both sides found nothing."""
    for resource in ALL:
        res_type = resource["resourceType"]
        found = [p.code for p in _indexable(registry, res_type) if fhirpath.compile(p.expression).evaluate(resource)]
        assert len(found) >= 3, res_type


def test_every_parameter_of_every_type_compiles(registry: SearchRegistry) -> None:
    """No fallback engine is left to catch an expression the engine cannot compile."""
    compiled = sum(len(indexers_for(registry, res_type)) for res_type in registry.types())
    assert compiled > 100


def test_choice_elements_are_read_from_their_typed_keys() -> None:
    effective = fhirpath.compile("Observation.effective")
    assert effective.evaluate({"resourceType": "Observation", "effectivePeriod": {"start": "2024"}}) == [
        {"start": "2024"}
    ]
    as_quantity = fhirpath.compile("(Observation.value as Quantity)")
    assert as_quantity.evaluate({"resourceType": "Observation", "valueString": "x"}) == []
    assert as_quantity.evaluate({"resourceType": "Observation", "valueQuantity": {"value": 1}}) == [{"value": 1}]


def test_where_resolve_is_matches_the_reference_type_also_in_absolute_urls() -> None:
    subject = fhirpath.compile("Observation.subject.where(resolve() is Patient)")
    assert subject.evaluate({"resourceType": "Observation", "subject": {"reference": "Group/1"}}) == []
    assert subject.evaluate(
        {"resourceType": "Observation", "subject": {"reference": "https://x.example/fhir/Patient/1"}}
    ) == [{"reference": "https://x.example/fhir/Patient/1"}]


def test_boolean_expressions_evaluate() -> None:
    deceased = fhirpath.compile("Patient.deceased.exists() and Patient.deceased != false")
    assert deceased.evaluate({"resourceType": "Patient", "deceasedBoolean": True}) == [True]
    assert deceased.evaluate({"resourceType": "Patient"}) == [False]
