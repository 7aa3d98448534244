"""The dict walker must index exactly what fhirpathpy would, for every parameter it compiles."""

import copy
from typing import Any

import pytest

from service.search.extract import rows_for_values
from service.search.paths import compile_expression, compile_fhirpath, compile_walker
from service.search.registry import SearchRegistry
from tests.search.samples import ALL


def _indexable(registry: SearchRegistry, res_type: str) -> list[Any]:
    return [
        p
        for p in registry.params_for(res_type).values()
        if p.expression is not None and p.type not in ("composite", "special")
    ]


@pytest.mark.parametrize("resource", ALL, ids=lambda r: r["resourceType"])
def test_walker_and_fhirpathpy_index_the_same_rows(registry: SearchRegistry, resource: dict[str, Any]) -> None:
    res_type = resource["resourceType"]
    compared = 0
    for param in _indexable(registry, res_type):
        walker = compile_walker(param.expression, res_type)
        if walker is None:
            continue
        try:
            expected = compile_fhirpath(param.expression)(copy.deepcopy(resource))
        except Exception:  # fhirpathpy refuses `as` on a collection; the walker is lenient there
            continue
        assert rows_for_values(param, walker(resource)) == rows_for_values(param, expected), param.code
        compared += 1
    assert compared >= 10


def test_the_walker_finds_values_in_every_sample_type(registry: SearchRegistry) -> None:
    """Guards the equality test above against passing because both sides found nothing."""
    for resource in ALL:
        res_type = resource["resourceType"]
        found = [
            p.code
            for p in _indexable(registry, res_type)
            if (w := compile_walker(p.expression, res_type)) is not None and w(resource)
        ]
        assert len(found) >= 3, res_type


def test_every_parameter_but_two_boolean_tests_compiles_to_a_walker(registry: SearchRegistry) -> None:
    fallbacks = [
        (t, p.code)
        for t in registry.types()
        for p in _indexable(registry, t)
        if compile_walker(p.expression, t) is None
    ]
    assert sorted(fallbacks) == [("Patient", "deceased"), ("Task", "overdue")]


def test_choice_elements_are_read_from_their_typed_keys() -> None:
    walker = compile_walker("Observation.effective", "Observation")
    assert walker is not None
    assert walker({"effectivePeriod": {"start": "2024"}}) == [{"start": "2024"}]
    as_quantity = compile_walker("(Observation.value as Quantity)", "Observation")
    assert as_quantity is not None
    assert as_quantity({"valueString": "x"}) == []
    assert as_quantity({"valueQuantity": {"value": 1}}) == [{"value": 1}]


def test_where_resolve_is_matches_the_reference_type_also_in_absolute_urls() -> None:
    walker = compile_walker("Observation.subject.where(resolve() is Patient)", "Observation")
    assert walker is not None
    assert walker({"subject": {"reference": "Group/1"}}) == []
    assert walker({"subject": {"reference": "https://x.example/fhir/Patient/1"}}) != []


def test_expressions_beyond_the_subset_fall_back_to_fhirpathpy() -> None:
    evaluate = compile_expression("Patient.deceased.exists() and Patient.deceased != false", "Patient")
    assert evaluate({"resourceType": "Patient", "deceasedBoolean": True}) == [True]
    assert evaluate({"resourceType": "Patient"}) == [False]
