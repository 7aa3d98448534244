"""A search page without includes runs on a connection without a transaction (one statement);
with an include it runs in one snapshot. Over the same data both give the same matches and total."""

import httpx

from tests.fhir_samples import FHIR_JSON, plain_observation, store_infants


async def test_a_page_outside_a_transaction_matches_the_page_inside_one(client: httpx.AsyncClient) -> None:
    await store_infants(client)
    for code in ("a", "a", "a", "b"):
        made = await client.post("/fhir/Observation", json=plain_observation(code=code), headers=FHIR_JSON)
        assert made.status_code == 201, made.text
    for query in ({"code": "a"}, {"subject": "Patient/infant-1", "_count": "2"}, {"code": "zzz"}):
        single = (await client.get("/fhir/Observation", params=query)).json()
        # An include that finds nothing (these observations name no performer)
        # takes the snapshot path and leaves the matches as they are.
        snapshot = (await client.get("/fhir/Observation", params={**query, "_include": "Observation:performer"})).json()
        assert single["total"] == snapshot["total"]
        assert [e["resource"] for e in single.get("entry", [])] == [
            e["resource"] for e in snapshot.get("entry", []) if e["search"]["mode"] == "match"
        ]
    assert (await client.get("/fhir/Observation", params={"code": "a"})).json()["total"] == 3
