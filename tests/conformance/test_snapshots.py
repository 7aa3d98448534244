"""Every profile in the package carries a snapshot generated from its differential over R4."""

import json
from pathlib import Path

import pytest

from service.conformance.npm_package import build_package
from service.conformance.snapshots import SnapshotError, base_snapshots, with_snapshot

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


def _packaged_profiles() -> dict[str, dict]:
    files = build_package(PROFILES)
    found = {}
    for path, content in files.items():
        if path.startswith("package/StructureDefinition-"):
            resource = json.loads(content)
            found[resource["id"]] = resource
    return found


PACKAGED = _packaged_profiles()


def test_the_base_snapshots_are_the_r4_ones() -> None:
    observation = base_snapshots()["Observation"]
    assert observation[0]["id"] == "Observation"
    status = next(e for e in observation if e["id"] == "Observation.status")
    assert status["binding"]["valueSet"].startswith("http://hl7.org/fhir/ValueSet/observation-status")


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_every_profile_has_a_snapshot_holding_each_differential_element(name: str) -> None:
    profile = PACKAGED[name]
    snapshot = profile["snapshot"]["element"]
    ids = [e["id"] for e in snapshot]
    assert len(ids) == len(set(ids)), "element ids are unique"
    assert snapshot[0]["id"] == profile["type"]
    for diff in profile["differential"]["element"]:
        element = snapshot[ids.index(diff["id"])]
        for key, value in diff.items():
            if key == "constraint":
                assert all(c in element["constraint"] for c in value)
            elif key not in ("id", "path"):
                assert element[key] == value, (diff["id"], key)
    for index, element in enumerate(snapshot[1:], start=1):  # each element comes after its parent
        parent = element["id"].rsplit(".", 1)[0]
        assert parent in ids[:index], element["id"]


def test_slices_carry_the_sliced_elements_children_and_the_base_stays_whole() -> None:
    snapshot = PACKAGED["dyad-relationship-observation"]["snapshot"]["element"]
    by_id = {e["id"]: e for e in snapshot}
    code = by_id["Observation.component:verbalInteraction.code"]
    assert code["path"] == "Observation.component.code"
    assert code["patternCodeableConcept"]["coding"][0]["code"] == "verbal-interaction"
    assert by_id["Observation.component:verbalInteraction.interpretation"]["max"] == "*"  # copied from the base
    assert by_id["Observation.component:verbalInteraction"]["sliceName"] == "verbalInteraction"
    assert by_id["Observation.subject"]["min"] == 1 and by_id["Observation.subject"]["base"]["min"] == 0
    assert "Observation.referenceRange.low" in by_id  # untouched base elements are kept
    extension = PACKAGED["dyad-ext-contact-type"]["snapshot"]["element"]
    assert next(e for e in extension if e["id"] == "Extension.url")["fixedUri"].endswith("dyad-ext-contact-type")


def test_a_constraint_on_a_child_of_a_data_type_unfolds_the_type() -> None:
    profile = {
        "resourceType": "StructureDefinition",
        "url": "https://example.org/p",
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {
            "element": [{"id": "Patient.identifier.system", "path": "Patient.identifier.system", "min": 1}]
        },
    }
    ids = [e["id"] for e in with_snapshot(profile, {})["snapshot"]["element"]]
    assert ids.index("Patient.identifier") < ids.index("Patient.identifier.system") < ids.index("Patient.active")


def test_what_the_generator_cannot_do_is_an_error_not_a_partial_snapshot() -> None:
    profile = {
        "resourceType": "StructureDefinition",
        "url": "https://example.org/p",
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient.nickname", "path": "Patient.nickname", "min": 1}]},
    }
    with pytest.raises(SnapshotError):
        with_snapshot(profile, {})
