"""The R4 core rules, each a fault measured on the old validator (issue 12): strict JSON, formats,
constraints, bindings, extensions, Bundle rules and messages that say what to do."""

import base64
from typing import Any

import pytest

from service.conformance.issues import Issue
from service.conformance.r4 import core_definitions
from service.conformance.validation import Validator
from tests.conformance.conftest import example

OBS = "Observation-obs-ava-grace-new-birth-visit.json"
PAT = "Patient-infant-ava-clarke.json"
DYAD = "https://w3id.org/dyad/fhir"


def errors(validator: Validator, resource: dict[str, Any]) -> list[Issue]:
    return [i for i in validator.validate(resource) if i.severity in ("error", "fatal")]


def structure(validator: Validator, resource: dict[str, Any]) -> list[Issue]:
    return validator.assess(resource).structure


def observation(**changes: Any) -> dict[str, Any]:
    resource = example(OBS)
    if any(key.startswith("value") for key in changes):
        resource.pop("valueCodeableConcept", None)
    resource.update(changes)
    return resource


def test_a_decimal_given_as_a_string_is_malformed(validator: Validator) -> None:
    resource = observation(valueQuantity={"value": "1.2", "unit": "kg"})
    found = structure(validator, resource)
    assert [i.expression for i in found] == ["Observation.valueQuantity.value"]
    assert "must be a JSON number" in found[0].message


def test_a_boolean_given_as_a_string_is_malformed(validator: Validator) -> None:
    resource = example(PAT)
    resource["active"] = "true"
    assert [i.expression for i in structure(validator, resource)] == ["Patient.active"]


@pytest.mark.parametrize(
    "change",
    [
        {"issued": None},
        {"note": {"text": "single where an array belongs"}},
        {"status": ["final"]},
        {"colour": "blue"},
    ],
)
def test_nulls_wrong_array_shape_and_unknown_elements_are_malformed(
    validator: Validator, change: dict[str, Any]
) -> None:
    assert structure(validator, observation(**change))


def test_an_id_longer_than_64_characters_is_malformed(validator: Validator) -> None:
    found = structure(validator, observation(id="a" * 65))
    assert found and found[0].expression == "Observation.id"
    assert "1 to 64 letters" in found[0].message


def test_a_date_error_gives_the_expected_form(validator: Validator) -> None:
    found = structure(validator, observation(effectiveDateTime="03/12/2025"))
    assert found[0].expression == "Observation.effectiveDateTime"
    assert "expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss" in found[0].message
    assert "does not match spec regex" not in found[0].message


def test_an_impossible_calendar_date_is_malformed(validator: Validator) -> None:
    assert structure(validator, observation(effectiveDateTime="2025-02-30"))


@pytest.mark.parametrize("data", ["QUJDRA==QUJD", "====", "QUJD-_=="])
def test_base64_content_is_checked(validator: Validator, data: str) -> None:
    resource = example(PAT)
    resource["photo"] = [{"contentType": "image/png", "data": data}]
    found = structure(validator, resource)
    assert [i.expression for i in found] == ["Patient.photo[0].data"]
    resource["photo"][0]["data"] = base64.b64encode(b"\xff\xfe/+").decode()
    assert errors(validator, resource) == []


def test_attachment_size_must_match_its_data(validator: Validator) -> None:
    resource = example(PAT)
    resource["photo"] = [{"contentType": "text/plain", "data": base64.b64encode(b"hello").decode(), "size": 6}]
    assert [i.expression for i in errors(validator, resource)] == ["Patient.photo[0].size"]
    resource["photo"][0]["size"] = 5
    assert errors(validator, resource) == []


def test_given_extension_array_longer_than_given_is_malformed(validator: Validator) -> None:
    resource = example(PAT)
    resource["name"] = [{"family": "Clarke", "given": ["Ava"], "_given": [None, {"id": "x"}]}]
    found = structure(validator, resource)
    assert [i.expression for i in found] == ["Patient.name[0]._given"]


def test_required_binding_on_a_base_datatype_lists_the_allowed_codes(validator: Validator) -> None:
    resource = observation(valueQuantity={"value": 3, "comparator": "about"})
    resource.pop("valueCodeableConcept", None)
    found = [i for i in errors(validator, resource) if i.code == "code-invalid"]
    assert [i.expression for i in found] == ["Observation.valueQuantity.comparator"]
    assert "one of <, <=, >, >=" in found[0].message


def test_a_large_value_set_is_named_with_its_size(validator: Validator) -> None:
    resource = {"resourceType": "Questionnaire", "status": "active", "item": [{"linkId": "1", "type": "essay"}]}
    found = [i for i in errors(validator, resource) if i.code == "code-invalid"]
    assert [i.expression for i in found] == ["Questionnaire.item[0].type"]
    assert (
        "a code from ValueSet QuestionnaireItemType (http://hl7.org/fhir/ValueSet/item-type, 17 codes)"
        in found[0].message
    )


def test_contained_resource_referred_to_by_a_canonical_is_not_orphaned(validator: Validator) -> None:
    questionnaire = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "contained": [{"resourceType": "Questionnaire", "id": "c1", "status": "active"}],
        "questionnaire": "#c1",
    }
    assert [i for i in errors(validator, questionnaire) if "dom-3" in i.message] == []
    questionnaire["questionnaire"] = "https://example.org/Questionnaire/other"
    assert [i.expression for i in errors(validator, questionnaire) if "dom-3" in i.message] == ["QuestionnaireResponse"]


@pytest.mark.parametrize(
    "resource, key",
    [
        ({"resourceType": "Bundle", "type": "collection", "total": 3}, "bdl-1"),
        ({"resourceType": "Questionnaire", "status": "active", "item": [{"linkId": "1", "type": "group"}]}, "que-1"),
        (
            {
                "resourceType": "SearchParameter",
                "url": "https://example.org/sp",
                "name": "x",
                "status": "active",
                "description": "x",
                "code": "x",
                "base": ["Patient"],
                "type": "token",
                "xpath": "f:Patient/f:x",
            },
            "spd-1",
        ),
        (
            {
                "resourceType": "StructureDefinition",
                "url": "https://example.org/sd",
                "name": "lower case",
                "status": "active",
                "kind": "resource",
                "abstract": False,
                "type": "Patient",
            },
            "sdf-",
        ),
        (
            {
                "resourceType": "RiskAssessment",
                "status": "final",
                "subject": {"reference": "Patient/p"},
                "prediction": [{"probabilityDecimal": 150}],
            },
            "ras-2",
        ),
    ],
)
def test_the_constraints_of_the_whole_of_r4_run(validator: Validator, resource: dict[str, Any], key: str) -> None:
    assert any(key in i.message for i in errors(validator, resource)), validator.validate(resource)


def test_an_unknown_extension_is_an_error(validator: Validator) -> None:
    resource = observation()
    resource["extension"].append({"url": "https://example.org/fhir/ext/colour", "valueString": "blue"})
    found = [i for i in errors(validator, resource) if i.code == "extension"]
    assert [i.expression for i in found] == ["Observation.extension[1]"]


def test_a_core_extension_out_of_its_context_is_an_error(validator: Validator) -> None:
    resource = observation()
    birth_place = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    resource["extension"].append({"url": birth_place, "valueAddress": {"city": "Leeds"}})
    assert [i.expression for i in errors(validator, resource)] == ["Observation.extension[1]"]
    patient = example(PAT)
    patient["extension"] = [{"url": birth_place, "valueAddress": {"city": "Leeds"}}]
    assert errors(validator, patient) == []


def test_a_primitive_extension_is_judged_in_its_datatypes_context(validator: Validator) -> None:
    """Contexts name elements by type (HumanName.given), wherever the datatype sits."""
    qualifier = {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier", "valueCode": "CL"}
    patient = example(PAT)
    patient["name"] = [{"family": "Clarke", "given": ["Ava", "Rose"], "_given": [None, {"extension": [qualifier]}]}]
    assert errors(validator, patient) == []
    patient["_birthDate"] = {"extension": [qualifier]}
    assert [i.expression for i in errors(validator, patient)] == ["Patient._birthDate.extension[0]"]


def test_dyad_extensions_are_in_context_inside_bundle_entries(validator: Validator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7f9c8d3e-9d4b-4a0e-8a3c-2b1f0e6d5c4a",
                "resource": example(OBS),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    assert errors(validator, bundle) == []


def test_a_relative_full_url_is_an_error(validator: Validator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "Patient/p1", "resource": example(PAT)}],
    }
    assert [i.expression for i in errors(validator, bundle)] == ["Bundle.entry[0].fullUrl"]


def test_more_than_one_self_link_is_an_error(validator: Validator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [
            {"relation": "self", "url": "https://example.org/a"},
            {"relation": "self", "url": "https://example.org/b"},
        ],
    }
    assert [i.expression for i in errors(validator, bundle)] == ["Bundle.link"]


def test_a_resource_inside_a_bundle_entry_is_checked_with_its_own_paths(validator: Validator) -> None:
    broken = example(OBS)
    broken["status"] = "done"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:7f9c8d3e-9d4b-4a0e-8a3c-2b1f0e6d5c4a", "resource": broken}],
    }
    found = errors(validator, bundle)
    assert [i.expression for i in found] == ["Bundle.entry[0].resource.status"]
    assert found[0].message.count("Bundle.entry[0]") == 1


def test_the_definitions_carry_their_provenance() -> None:
    provenance = core_definitions().provenance
    assert "4.0.1" in provenance["content"] and "CC0" in provenance["content"]
    assert provenance["required_bindings_expanded"] >= 200
    assert len(core_definitions().constraints) > 200
