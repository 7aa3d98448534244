"""Every sample record becomes a transaction Bundle of structurally valid, profiled, traceable resources."""

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service.mapping import MappingCatalog
from tests.mapping.conftest import SYSTEMS, all_samples, sample

PROFILES = {
    "Patient": "dyad-patient",
    "RelatedPerson": "dyad-caregiver",
    "Observation": "dyad-relationship-observation",
    "ServiceRequest": "dyad-referral",
    "Task": "dyad-referral-task",
    "CarePlan": "dyad-care-plan",
    "Goal": "dyad-goal",
}
BASE = "https://w3id.org/dyad/fhir/StructureDefinition/"


@pytest.mark.parametrize(("system_name", "name"), all_samples())
def test_sample_maps_to_valid_profiled_resources(catalog: MappingCatalog, system_name: str, name: str) -> None:
    system = catalog.system(system_name)
    result = system.to_fhir(sample(system, name))
    assert result.ok, result.issues
    bundle = result.bundle
    assert bundle is not None and bundle["type"] == "transaction"
    get_fhir_model_class("Bundle").model_validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        expected = PROFILES.get(resource["resourceType"])
        if _mothers_own_referral(resource):
            # Her own mental health care: not a parent–infant referral, so not claimed as one.
            assert "profile" not in resource["meta"]
        elif expected:
            assert resource["meta"]["profile"] == [BASE + expected]
        assert resource["meta"]["source"].startswith(f"https://w3id.org/dyad/fhir/source/{system_name}/")
        assert entry["fullUrl"].startswith("urn:uuid:")


def _mothers_own_referral(resource: dict[str, Any]) -> bool:
    if resource["resourceType"] == "ServiceRequest":
        return bool(resource["intent"] == "order")
    codes = (
        [c["code"] for c in resource.get("code", {}).get("coding", [])] if resource["resourceType"] == "Task" else []
    )
    return codes == ["fulfill"]


@pytest.mark.parametrize(("system_name", "name"), all_samples())
def test_every_reference_resolves_inside_the_bundle(catalog: MappingCatalog, system_name: str, name: str) -> None:
    system = catalog.system(system_name)
    bundle = system.to_fhir(sample(system, name)).bundle
    assert bundle is not None
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    for reference in _references(bundle["entry"]):
        assert reference in full_urls


@pytest.mark.parametrize(("system_name", "name"), all_samples())
def test_provenance_names_every_resource_the_record_and_the_mapping(
    catalog: MappingCatalog, system_name: str, name: str
) -> None:
    system = catalog.system(system_name)
    record = sample(system, name)
    bundle = system.to_fhir(record).bundle
    assert bundle is not None
    provenance = bundle["entry"][-1]["resource"]
    assert provenance["resourceType"] == "Provenance"
    produced = {e["fullUrl"] for e in bundle["entry"][:-1]}
    assert {t["reference"] for t in provenance["target"]} == produced
    assert provenance["entity"][0]["what"]["identifier"]["value"] == record["RecordID"]
    assert provenance["policy"] == [f"https://w3id.org/dyad/fhir/mappings/{system_name}/0.1.0"]
    assert provenance["agent"][0]["who"]["identifier"]["system"] == "https://fhir.nhs.uk/Id/ods-organization-code"
    assert provenance["recorded"]


@pytest.mark.parametrize(("system_name", "name"), all_samples())
def test_resending_a_record_targets_the_same_resources(catalog: MappingCatalog, system_name: str, name: str) -> None:
    """Idempotent re-sends: every entry is a conditional create/update on a business identifier."""
    system = catalog.system(system_name)
    first = system.to_fhir(sample(system, name)).bundle
    again = system.to_fhir(sample(system, name)).bundle
    assert first is not None and again is not None
    requests = [e["request"] for e in first["entry"] if e["resource"]["resourceType"] != "Provenance"]
    assert requests == [e["request"] for e in again["entry"] if e["resource"]["resourceType"] != "Provenance"]
    for request in requests:
        conditional = request.get("ifNoneExist") or request["url"].partition("?")[2]
        assert conditional.startswith("identifier="), request


@pytest.mark.parametrize("system_name", SYSTEMS)
def test_infant_is_subject_and_caregiver_is_focus(catalog: MappingCatalog, system_name: str) -> None:
    system = catalog.system(system_name)
    for record in system.samples().values():
        bundle = system.to_fhir(record).bundle
        assert bundle is not None
        by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
        for observation in (r for r in by_url.values() if r["resourceType"] == "Observation"):
            infant = by_url[observation["subject"]["reference"]]
            caregiver = by_url[observation["focus"][0]["reference"]]
            assert infant["resourceType"] == "Patient" and "link" not in infant
            assert caregiver["resourceType"] in ("Patient", "RelatedPerson")
            assert caregiver is not infant


def _references(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_references(item))
    return found
