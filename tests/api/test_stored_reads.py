"""A read served as the stored JSON text (no parse, no dump) against the general response path.

`?_pretty=false` changes nothing in the body but takes the general path (parse, shape, dump), so
the two answers for the same resource must agree: byte for byte on SQLite, whose column holds the
text the general path writes; as JSON on PostgreSQL, whose jsonb has a text form of its own
(spaces after separators, its own key order, which the general path's parse keeps too).
"""

from typing import Any

import httpx
import orjson

from tests.fhir_samples import FHIR_JSON, infant, observation, store_infants


async def _both(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, httpx.Response]:
    fast = await client.get(path)
    general = await client.get(path, params={"_pretty": "false"})
    assert fast.status_code == general.status_code == 200, (fast.text, general.text)
    return fast, general


async def test_a_read_served_as_stored_equals_the_general_response(client: httpx.AsyncClient, backend: str) -> None:
    await store_infants(client)
    named = {**infant("9000000025", family="Ó Súilleabháin – Ægir"), "id": "infant-3"}
    assert (await client.put("/fhir/Patient/infant-3", json=named, headers=FHIR_JSON)).status_code == 201
    made = await client.post("/fhir/Observation", json=observation(), headers=FHIR_JSON)
    assert made.status_code == 201, made.text
    changed: dict[str, Any] = {**made.json(), "note": [{"text": "updated: 1.50 → 2"}]}
    obs_id = made.json()["id"]
    assert (await client.put(f"/fhir/Observation/{obs_id}", json=changed, headers=FHIR_JSON)).status_code == 200
    for path in ("/fhir/Patient/infant-1", "/fhir/Patient/infant-3", f"/fhir/Observation/{obs_id}"):
        fast, general = await _both(client, path)
        if backend == "sqlite":
            assert fast.content == general.content
        assert orjson.loads(fast.content) == orjson.loads(general.content)
        for header in ("content-type", "etag", "last-modified"):
            assert fast.headers[header] == general.headers[header], header
    assert (await client.get(f"/fhir/Observation/{obs_id}")).json()["meta"]["versionId"] == "2"


async def test_shaping_xml_and_refusals_still_take_the_general_path(client: httpx.AsyncClient) -> None:
    await store_infants(client)
    summary = (await client.get("/fhir/Patient/infant-1", params={"_summary": "true"})).json()
    assert any(t.get("code") == "SUBSETTED" for t in summary["meta"]["tag"])
    elements = (await client.get("/fhir/Patient/infant-1", params={"_elements": "birthDate"})).json()
    assert "name" not in elements and elements["birthDate"] == "2026-09-14"
    xml = await client.get("/fhir/Patient/infant-1", params={"_format": "xml"})
    assert xml.headers["content-type"].startswith("application/fhir+xml") and b"<Patient" in xml.content
    pretty = await client.get("/fhir/Patient/infant-1", params={"_pretty": "true"})
    assert b'\n  "resourceType"' in pretty.content or b'\n  "id"' in pretty.content
    missing = await client.get("/fhir/Patient/nobody")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert (await client.delete("/fhir/Patient/infant-2")).status_code == 204
    assert (await client.get("/fhir/Patient/infant-2")).status_code == 410
