"""Dyad-minted local ids: they fit the data sets' fields, say what they stand for, and a record
that names something by one refers to what Dyad holds instead of making it again."""

import re

from service.mapping.local_ids import local_id, mint, minted_id, recognise_minted

LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,39}$")  # the schemas' local-id pattern
BASE = "https://w3id.org/dyad/fhir/Id"


def test_a_minted_id_fits_the_field_and_gives_back_the_resource() -> None:
    for resource, tag in (
        ({"resourceType": "Patient", "id": "0b9a4c1e-2f3d-4e5f-8a6b-7c8d9e0f1a2b"}, "P"),
        ({"resourceType": "RelatedPerson", "id": "mother"}, "R"),
        ({"resourceType": "Observation", "id": "obs-1"}, "X"),
    ):
        minted = mint(resource)
        assert minted is not None and LOCAL_ID.match(minted), minted
        assert minted_id(minted) == (tag, resource["id"])
    assert mint({"resourceType": "Observation", "id": "x" * 40}) is None  # too long: never truncated
    assert minted_id("C0812292") is None  # a system's own id


def test_the_rendering_organisations_own_id_wins_and_no_other_organisations_id_is_used() -> None:
    person = {
        "resourceType": "RelatedPerson",
        "id": "rp-1",
        "identifier": [{"system": f"{BASE}/RBX/person", "value": "C0812292"}],
    }
    assert local_id(person, "person", "RBX") == "C0812292"
    assert local_id(person, "person", "RX1") == "DYADR.vrp-1"  # RBX's id is not RX1's


def test_an_entry_keyed_by_a_minted_id_becomes_a_reference_to_the_held_resource() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:enc",
                "resource": {
                    "resourceType": "Encounter",
                    "identifier": [{"system": f"{BASE}/RX1/encounter", "value": "DYADX.venc-9"}],
                },
                "request": {"method": "PUT", "url": f"Encounter?identifier={BASE}/RX1/encounter|DYADX.venc-9"},
            },
            {
                "fullUrl": "urn:uuid:obs",
                "resource": {
                    "resourceType": "Observation",
                    "identifier": [{"system": f"{BASE}/RX1/observation", "value": "OBS-1"}],
                    "encounter": {"reference": "urn:uuid:enc"},
                },
                "request": {"method": "PUT", "url": f"Observation?identifier={BASE}/RX1/observation|OBS-1"},
            },
        ],
    }
    [listed] = recognise_minted(bundle)
    assert listed.values == ("Encounter DYADX.venc-9",)
    [kept] = bundle["entry"]
    assert kept["resource"]["encounter"] == {"reference": "Encounter/enc-9"}
