"""FHIR XML conversion: every guide example round-trips, and the HL7 XML examples parse."""

import json
from pathlib import Path

import pytest
from lxml import etree

from service.conformance.fhir_xml import FhirXmlError, from_xml, to_xml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json"))
HL7_XML = Path(__file__).parent / "hl7_xml"  # HL7's own examples, with licence and provenance
HL7_EXAMPLES = {
    "patient-example.xml": "Patient",
    "observation-example.xml": "Observation",
    "codesystem-example.xml": "CodeSystem",
    "parameters-example-types.xml": "Parameters",
    "patient-example-period.xml": "Patient",
    "questionnaire-example.xml": "Questionnaire",
    "valueset-example-expansion.xml": "ValueSet",
}


def _shared(name: str) -> Path:
    return HL7_XML / name


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_guide_example_round_trips_json_xml_json(path: Path) -> None:
    resource = json.loads(path.read_text())
    assert from_xml(to_xml(resource)) == resource


@pytest.mark.parametrize("name", sorted(HL7_EXAMPLES))
def test_the_hl7_xml_examples_parse_and_round_trip(name: str) -> None:
    resource = from_xml(_shared(name).read_bytes())
    assert resource["resourceType"] == HL7_EXAMPLES[name]
    assert len(resource) >= 3
    assert from_xml(to_xml(resource)) == resource


def test_the_hl7_patient_example_keeps_its_narrative_and_primitive_extensions() -> None:
    patient = from_xml(_shared("patient-example.xml").read_bytes())
    assert patient["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "<b>Chalmers</b>" in patient["text"]["div"]
    assert patient["_birthDate"]["extension"][0]["url"] == "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    assert patient["contact"][0]["name"]["_family"]["extension"][0]["valueString"] == "VV"
    assert patient["deceasedBoolean"] is False
    assert patient["name"][0]["given"] == ["Peter", "James"]


def test_a_repeating_primitive_with_only_an_extension_keeps_its_place() -> None:
    name = {
        "family": "Okafor",
        "given": ["Ada", None],
        "_given": [
            None,
            {
                "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
                ]
            },
        ],
    }
    patient = {"resourceType": "Patient", "name": [name]}
    xml = to_xml(patient)
    givens = etree.fromstring(xml).findall("{http://hl7.org/fhir}name/{http://hl7.org/fhir}given")
    assert [g.get("value") for g in givens] == ["Ada", None]
    assert from_xml(xml) == patient


def test_numbers_and_booleans_keep_their_json_types() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": 3.25, "unit": "kg"},
        "component": [{"code": {"text": "n"}, "valueInteger": 7}, {"code": {"text": "b"}, "valueBoolean": False}],
    }
    assert from_xml(to_xml(observation)) == observation


@pytest.mark.parametrize(
    "body",
    [
        b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>',
        b'<Patient xmlns="http://hl7.org/fhir"><gender value="female"/><gender value="male"/></Patient>',
        b'<Patient xmlns="http://hl7.org/fhir"><name id="x"><id value="y"/></name></Patient>',
        b'<NotAType xmlns="http://hl7.org/fhir"/>',
        b'<!DOCTYPE Patient SYSTEM "http://example.org/x.dtd"><Patient xmlns="http://hl7.org/fhir"/>',
    ],
)
def test_what_is_not_fhir_xml_is_refused(body: bytes) -> None:
    with pytest.raises(FhirXmlError):
        from_xml(body)
