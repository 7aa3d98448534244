"""A Subscription's channel.header (the subscriber's endpoint credentials) is returned to nobody,
in whichever format the response is asked for: XML goes out through the same filter as JSON."""

import httpx

from tests.fhir_samples import FHIR_JSON

SECRET = "Authorization: Bearer review-secret-0123"


def _subscription() -> dict[str, object]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "review",
        "criteria": "Observation?code=https://w3id.org/dyad/fhir/CodeSystem/dyad|relationship-assessment",
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://ehr.example.nhs.uk/hook",
            "payload": "application/fhir+json",
            "header": [SECRET],
        },
    }


async def test_subscription_headers_are_left_out_of_xml_responses(client: httpx.AsyncClient) -> None:
    made = await client.post("/fhir/Subscription", json=_subscription(), headers=FHIR_JSON)
    assert made.status_code == 201, made.text
    sub_id = made.json()["id"]
    paths = (
        f"/fhir/Subscription/{sub_id}",
        f"/fhir/Subscription/{sub_id}/_history/1",
        f"/fhir/Subscription/{sub_id}/_history",
        "/fhir/Subscription",
    )
    for path in paths:
        as_json = await client.get(path)
        assert as_json.status_code == 200, (path, as_json.text)
        assert b"review-secret" not in as_json.content, path
        as_xml = await client.get(path, params={"_format": "xml"})
        assert as_xml.status_code == 200, (path, as_xml.text)
        assert as_xml.headers["content-type"].startswith("application/fhir+xml")
        assert b"review-secret" not in as_xml.content, path
