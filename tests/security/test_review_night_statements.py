"""Hostile review (2026-11-30 night): search statements kept per shape must never carry one
viewer's visibility to another. Every search is run by each viewer in turn, in both orders, over
the real app (DYAD_AUTH=jwt), and compared with the same search built afresh for that viewer.
"""

from typing import Any

import httpx

from tests.fhir_samples import observation
from tests.security.test_hostile_organisations import _grant_hv
from tests.security.test_http_enforcement import (  # noqa: F401 (fixtures)
    HV,
    MAT,
    PMH,
    Mint,
    _family,
    app_client,
    auth,
    mint,
    settings,
)

DYAD_CODE = "https://w3id.org/dyad/fhir/CodeSystem/dyad-concepts|relationship-assessment"
TREAT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}

SEARCHES: list[tuple[str, dict[str, str]]] = [
    ("Observation", {"subject": "Patient/baby"}),
    ("Observation", {"subject": "Patient/baby,Patient/mother,Patient/nobody"}),
    ("Observation", {"subject": "baby,mother"}),
    ("Observation", {"focus": "Patient/mother"}),
    ("Observation", {"code": DYAD_CODE}),
    ("Observation", {"code": "relationship-assessment,other-code"}),
    ("Observation", {"code:not": "other-code"}),
    ("Observation", {"subject:Patient.name": "Okafor"}),
    ("Observation", {"subject": "Patient/baby", "_summary": "count"}),
    ("Observation", {"subject": "Patient/baby", "_total": "accurate", "_count": "1"}),
    ("Observation", {"subject": "Patient/baby", "_total": "accurate", "_count": "1", "_offset": "1"}),
    ("Observation", {"subject": "Patient/baby", "_sort": "-_lastUpdated", "_include": "Observation:subject"}),
    ("Patient", {"_has:Observation:subject:code": DYAD_CODE}),
    ("Patient", {"_has:Observation:focus:subject": "Patient/baby"}),
    ("Patient", {"_id": "baby", "_revinclude": "Observation:subject"}),
    ("Observation", {"_lastUpdated": "ge2000-01-01"}),
]


def _viewers(mint: Mint) -> dict[str, str]:
    return {
        "pmh": mint(org=PMH, subject="client-pmh"),
        "hv": mint(org=HV),
        "hv-treat": mint(org=HV, purpose_of_use="TREAT"),
        "hv-other": mint(org=HV, purpose_of_use="ETREAT"),
        "mat": mint(org=MAT),
        "mat-treat": mint(org=MAT, purpose_of_use="TREAT"),
        "nobody": mint(org=None),
        "nobody-treat": mint(org=None, purpose_of_use="TREAT"),
    }


def _answer(bundle: dict[str, Any]) -> tuple[Any, list[tuple[str, str, str]]]:
    entries = [
        (e["search"]["mode"], e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle.get("entry", [])
    ]
    return bundle.get("total"), sorted(entries)


async def _search(client: httpx.AsyncClient, token: str, res_type: str, params: dict[str, str]) -> Any:
    response = await client.get(f"/fhir/{res_type}", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return _answer(response.json())


async def test_a_kept_statement_answers_each_viewer_as_a_fresh_one_would(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    restricted = await _family(app_client, mint)
    plain = await app_client.post("/fhir/Observation", json=observation("Patient/baby"), headers=auth(mint(org=HV)))
    assert plain.status_code == 201, plain.text
    await _grant_hv(app_client, mint, purpose=[TREAT])
    statements = app_client.app.state.fhir.search_statements  # type: ignore[attr-defined]
    viewers = _viewers(mint)
    fresh: dict[tuple[int, str], Any] = {}
    for i, (res_type, params) in enumerate(SEARCHES):
        for name, token in viewers.items():
            statements._by_shape.clear()
            fresh[i, name] = await _search(app_client, token, res_type, params)
    # The restricted observation: its owner and the purpose-granted organisation only.
    sees = {name for name in viewers if any(restricted == e[2] for e in fresh[0, name][1])}
    assert sees == {"pmh", "hv-treat"}, sees
    for order in (list(viewers), list(reversed(viewers)), sorted(viewers)):
        for i, (res_type, params) in enumerate(SEARCHES):
            for name in order:
                kept = await _search(app_client, viewers[name], res_type, params)
                assert kept == fresh[i, name], (res_type, params, name)
