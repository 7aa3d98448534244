"""The engine's API and the faults issue 12 measured in the fast compiler it replaces."""

from decimal import Decimal

import pytest

from service import fhirpath
from service.fhirpath import FHIRPathError, Temporal

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "birthDate": "1974-12-25",
    "name": [{"family": "Chalmers", "given": ["Peter", "James"]}, {"given": ["Jim"]}],
    "managingOrganization": {"reference": "Organization/o1"},
    "contained": [{"resourceType": "Practitioner", "id": "pr1"}],
    "generalPractitioner": [{"reference": "#pr1"}],
}
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "weight"},
    "valueQuantity": {"value": 1.8, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    "effectiveDateTime": "2026-03-01T10:00:00+01:00",
}


def values(resource: dict, expression: str, **variables: object) -> list:
    return fhirpath.evaluate(resource, expression, variables or None)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1.8 - 1.2 = 0.6", [True]),  # exact decimals, not binary floats
        ("0.1 + 0.2 = 0.3", [True]),
        ("'a\nb'.matches('a.b')", [True]),  # single-line mode: '.' matches a newline
        ("'abc' & {}", ["abc"]),  # & treats an empty operand as ''
        ("name.select(iif($this.family.exists(), $this.family, 'none'))", ["Chalmers", "none"]),
        ("'\\u0041\\u00e9'", ["Aé"]),
        ("(3 | 1 | 2).sort()", [1, 2, 3]),
        ("name.given.sort(-$this)", ["Peter", "Jim", "James"]),
        ("1.587.lowBoundary(2)", [Decimal("1.58")]),
        ("1.587.precision()", [3]),
        ("'<a>'.escape('html')", ["&lt;a&gt;"]),
        ("'&lt;a&gt;'.unescape('html')", ["<a>"]),
        ("7 days = 1 'wk'", [True]),
        ("1 year = 1 'a'", []),  # a calendar year is not UCUM's mean year, nor known to differ
        ("4 'g' = 4000 'mg'", [True]),
    ],
)
def test_issue_12_expressions(expression: str, expected: list) -> None:
    assert values(PATIENT, expression) == expected


def test_date_arithmetic_keeps_the_timezone() -> None:
    (result,) = values(OBSERVATION, "effective + 1 day")
    assert str(result) == "2026-03-02T10:00:00+01:00"
    (end_of_month,) = values(PATIENT, "@2024-01-31 + 1 month")
    assert end_of_month == Temporal("Date", (2024, 2, 29))


def test_dates_compare_by_precision() -> None:
    assert values(PATIENT, "birthDate < @1975") == [True]
    assert values(PATIENT, "birthDate = @1974") == []  # unknown: the precisions differ
    assert values(PATIENT, "birthDate ~ @1974") == [False]


def test_choice_elements_and_types() -> None:
    assert values(OBSERVATION, "value.value") == [1.8]
    assert values(OBSERVATION, "value is Quantity") == [True]
    assert values(OBSERVATION, "value.ofType(Quantity).unit") == ["kg"]
    assert values(OBSERVATION, "value > 1.5 'kg'") == [True]
    assert values(OBSERVATION, "value < 1900 'g'") == [True]


def test_lenient_mode_reads_json_choice_names_strict_mode_refuses_them() -> None:
    assert values(OBSERVATION, "valueQuantity.unit") == ["kg"]
    with pytest.raises(FHIRPathError):
        fhirpath.evaluate(OBSERVATION, "valueQuantity.unit", strict=True)
    with pytest.raises(FHIRPathError):
        fhirpath.evaluate(PATIENT, "name.given1", strict=True)
    assert values(PATIENT, "name.given1") == []


def test_capitalised_field_names_of_non_fhir_records_navigate() -> None:
    """Mapping data sets name their fields in capitals; fhirpathpy read those as type names."""
    record = {"Surname": "Smith", "Visit": [{"Date": "2026-01-02"}]}
    assert fhirpath.evaluate(record, "Surname") == ["Smith"]
    assert fhirpath.evaluate(record, "Visit.Date") == ["2026-01-02"]
    assert fhirpath.evaluate({}, "%record.Visit.Date", {"record": record}) == ["2026-01-02"]


def test_contains_is_membership_as_an_operator_and_substring_as_a_function() -> None:
    """Reported as "contains returns nothing" (issue 13): it does not. The operator is collection
    membership (FHIRPath 6.3.2), so `'abc' contains 'b'` is false; the string function is `.contains()`."""
    assert fhirpath.evaluate({}, "'abc'.contains('b')") == [True]
    assert fhirpath.evaluate({}, "'abc' contains 'b'") == [False]
    assert fhirpath.evaluate({}, "'abc' contains 'abc'") == [True]
    assert fhirpath.evaluate({}, "(1 | 2) contains 2") == [True]
    assert fhirpath.evaluate({}, "{} contains 'a'") == [False]
    assert fhirpath.evaluate({}, "('a' | 'b') contains {}") == []
    record = {"Org": "RX1", "Names": ["abc", "def"]}
    assert fhirpath.evaluate({}, "%record.Names contains 'abc'", {"record": record}) == [True]
    assert fhirpath.evaluate({}, "%record.Org.contains('X1')", {"record": record}) == [True]
    assert values(PATIENT, "name.given contains 'Peter'") == [True]


def test_union_and_select_over_resources_and_records() -> None:
    """Reported as a KeyError 'resourceType' (issue 13): that is fhirpathpy's, on capitalised
    record fields (tests/mapping/test_expressions.py expects it there); this engine reads them."""
    resources = [{"resourceType": "Patient", "id": "p1"}, {"resourceType": "Observation", "id": "o1"}]
    record = {"Org": "RX1", "Kids": [{"Id": "a"}, {"Id": "b"}]}
    variables = {"resources": resources, "record": record}
    assert fhirpath.evaluate({}, "%resources.select(resourceType)", variables) == ["Patient", "Observation"]
    assert fhirpath.evaluate({}, "(%resources.ofType(Patient) | %resources.ofType(Observation)).id", variables) == [
        "p1",
        "o1",
    ]
    assert fhirpath.evaluate({}, "%resources.first() | %resources.last()", variables) == resources
    assert fhirpath.evaluate({}, "%record.Kids.select(Id) | %record.Org", variables) == ["a", "b", "RX1"]


def test_resolve_contained_and_by_reference_type() -> None:
    assert values(PATIENT, "generalPractitioner.resolve().id") == ["pr1"]
    assert values(PATIENT, "managingOrganization.resolve() is Organization") == [True]
    assert values(PATIENT, "managingOrganization.where(resolve() is Patient)") == []


def test_primitive_extensions_and_ids() -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "2000-01-01",
        "_birthDate": {"extension": [{"url": "http://x", "valueString": "y"}]},
    }
    assert values(patient, "birthDate.extension('http://x').value") == ["y"]
    assert values(patient, "birthDate.hasValue()") == [True]


def test_variables_and_errors() -> None:
    assert values(PATIENT, "%limit + 1", limit=2) == [3]
    with pytest.raises(FHIRPathError):
        values(PATIENT, "%undefined")
    with pytest.raises(FHIRPathError):
        values(PATIENT, "name.given.substring(")
    with pytest.raises(FHIRPathError):
        values(PATIENT, "name.given.single()")


def test_compiled_form_is_cached_and_reusable() -> None:
    compiled = fhirpath.compile("name.given.first()")
    assert fhirpath.compile("name.given.first()") is compiled
    assert compiled.evaluate(PATIENT) == ["Peter"]
    assert compiled.evaluate({"resourceType": "Patient"}) == []


def test_caller_functions_get_plain_values() -> None:
    compiled = fhirpath.compile(
        "name.family.shout('!')", functions={"shout": lambda focus, end: [f.upper() + end for f in focus]}
    )
    assert compiled.evaluate(PATIENT) == ["CHALMERS!"]
