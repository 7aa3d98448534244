"""Another organisation with valid tokens of its own, trying to reach perinatal mental health records
(issue 11). Organisations: PMH (perinatal mental health, writes restricted records), HV (health
visiting), MAT (maternity); DYAD_AUTH=jwt, over the real app, on SQLite and PostgreSQL.
"""

from typing import Any

import httpx
from sqlalchemy import select

from service.store.access import Viewer
from service.store.tables import ResourceRow, ResourceVersionRow
from tests.fhir_samples import infant, observation
from tests.security.test_http_enforcement import (  # noqa: F401 (fixtures)
    ALL,
    GRANTS,
    HV,
    MAT,
    PMH,
    Mint,
    _family,
    app_client,
    auth,
    mint,
    put,
    settings,
)

NHS = "https://fhir.nhs.uk/Id/nhs-number"
RECIPIENT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}


def consent(actor: str, *, patient: str = "Patient/mother", **provision: Any) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": patient},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {"type": "permit", "actor": [{"role": RECIPIENT, "reference": {"reference": actor}}], **provision},
    }


async def _read(client: httpx.AsyncClient, token: str, path: str, **params: str) -> httpx.Response:
    return await client.get(f"/fhir/{path}", params=params, headers=auth(token))


async def _grant_hv(client: httpx.AsyncClient, mint: Mint, **provision: Any) -> str:
    response = await client.post("/fhir/Consent", json=consent(HV, **provision), headers=auth(mint(GRANTS, org=PMH)))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# --- 1. who may record consent --------------------------------------------------------------------


async def test_an_organisation_cannot_grant_itself_access(app_client: httpx.AsyncClient, mint: Mint) -> None:
    obs = await _family(app_client, mint)
    narrow = mint("system/Consent.c system/Observation.r", org=HV)
    refused = await app_client.post("/fhir/Consent", json=consent(HV), headers=auth(narrow))
    assert refused.status_code == 403
    with_grant_scope = await app_client.post("/fhir/Consent", json=consent(HV), headers=auth(mint(GRANTS, org=HV)))
    assert with_grant_scope.status_code == 403
    assert (await _read(app_client, narrow, f"Observation/{obs}")).status_code == 404


async def test_a_consent_recorded_by_a_third_organisation_opens_nothing_it_does_not_own(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    stored = await app_client.post("/fhir/Consent", json=consent(HV), headers=auth(mint(GRANTS, org=MAT)))
    assert stored.status_code == 201  # maternity may share what maternity holds
    assert (await _read(app_client, mint(org=HV), f"Observation/{obs}")).status_code == 404


async def _labelled_by_maternity(client: httpx.AsyncClient, mint: Mint) -> str:
    """An Observation maternity itself labels restricted (an unrestricted writer using the label)."""
    labelled = {
        **observation("Patient/baby"),
        "focus": [{"reference": "Patient/mother"}],
        "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
    }
    response = await client.post("/fhir/Observation", json=labelled, headers=auth(mint(org=MAT)))
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_only_the_recorder_changes_a_consent(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    obs = await _labelled_by_maternity(app_client, mint)
    recorded = await app_client.post("/fhir/Consent", json=consent(HV), headers=auth(mint(GRANTS, org=MAT)))
    assert recorded.status_code == 201
    friend = "Organization/friend-of-pmh"
    organisation = {"resourceType": "Organization", "id": "friend-of-pmh", "name": "A friend of PMH's"}
    assert (await put(app_client, mint(org=MAT), organisation)).status_code in (200, 201)
    rewritten = {**consent(friend), "id": recorded.json()["id"]}
    assert (await put(app_client, mint(GRANTS, org=PMH), rewritten)).status_code == 403
    assert (
        await app_client.delete(f"/fhir/Consent/{recorded.json()['id']}", headers=auth(mint(GRANTS, org=PMH)))
    ).status_code == 403
    assert (await _read(app_client, mint(org=friend), f"Observation/{obs}")).status_code == 404
    assert (await _read(app_client, mint(org=HV), f"Observation/{obs}")).status_code == 200


async def test_a_consent_granting_without_the_consent_scope_is_refused(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    refused = await app_client.post("/fhir/Consent", json=consent(HV), headers=auth(mint(ALL, org=PMH)))
    assert refused.status_code == 403
    assert "dyad/consent.grant" in refused.text


# --- 7. purpose ---------------------------------------------------------------------------------


async def test_a_purpose_limited_consent_grants_nothing_to_a_token_without_purpose(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    treatment = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
    await _grant_hv(app_client, mint, purpose=[treatment])
    assert (await _read(app_client, mint(org=HV), f"Observation/{obs}")).status_code == 404
    with_purpose = mint(org=HV, purpose_of_use="TREAT")
    assert (await _read(app_client, with_purpose, f"Observation/{obs}")).status_code == 200


# --- 2. subscriptions ----------------------------------------------------------------------------


SECRET = "Authorization: Bearer pmh-hook-secret"


def _subscription() -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "PMH follows its observations",
        "criteria": "Observation?subject=Patient/baby",
        "channel": {
            "type": "rest-hook",
            "endpoint": "http://127.0.0.1:9/pmh-hook",
            "payload": "application/fhir+json",
            "header": [SECRET],
        },
    }


async def test_a_subscription_needs_read_and_search_on_what_its_criteria_watch(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    # A Subscription delivers the resources its criteria match: writing one is searching them.
    subscriptions_only = mint(scopes="system/Subscription.cruds", org=HV)
    refused = await app_client.post("/fhir/Subscription", json=_subscription(), headers=auth(subscriptions_only))
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["code"] == "forbidden"
    chained = {**_subscription(), "criteria": "Observation?subject:Patient.identifier=x"}
    no_patient = mint(scopes="system/Subscription.cruds system/Observation.rs", org=HV)
    assert (await app_client.post("/fhir/Subscription", json=chained, headers=auth(no_patient))).status_code == 403
    allowed = await app_client.post("/fhir/Subscription", json=_subscription(), headers=auth(no_patient))
    assert allowed.status_code == 201, allowed.text
    taken = {**allowed.json(), "criteria": "Communication?recipient=Organization/hv-team"}
    assert (await put(app_client, no_patient, taken)).status_code == 403
    assert (await app_client.get("/fhir/Subscription", headers=auth(no_patient))).json()["total"] == 1


async def test_another_organisation_can_neither_see_nor_change_a_subscription(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    # Owned whether labelled or not: maternity's writes carry no restricting label.
    pmh, hv = mint(org=MAT), mint(org=HV)
    created = await app_client.post("/fhir/Subscription", json=_subscription(), headers=auth(pmh))
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    assert (await _read(app_client, hv, f"Subscription/{sub_id}")).status_code == 404
    assert (await _read(app_client, hv, f"Subscription/{sub_id}/_history")).status_code == 404
    assert (await _read(app_client, hv, "Subscription")).json()["total"] == 0
    hijack = {
        **_subscription(),
        "id": sub_id,
        "channel": {**_subscription()["channel"], "endpoint": "http://127.0.0.1:9/hv"},
    }
    assert (await put(app_client, hv, hijack)).status_code == 404
    await app_client.delete(f"/fhir/Subscription/{sub_id}", headers=auth(hv))
    mine = await _read(app_client, pmh, f"Subscription/{sub_id}")
    assert mine.status_code == 200
    assert mine.json()["channel"]["endpoint"] == "http://127.0.0.1:9/pmh-hook"


async def test_subscription_secrets_are_returned_to_nobody_but_kept_for_delivery(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    pmh = mint(org=PMH)
    created = await app_client.post("/fhir/Subscription", json=_subscription(), headers=auth(pmh))
    sub_id = created.json()["id"]
    answers = [
        created,
        await _read(app_client, pmh, f"Subscription/{sub_id}"),
        await _read(app_client, pmh, f"Subscription/{sub_id}/_history/1"),
        await _read(app_client, pmh, f"Subscription/{sub_id}/_history"),
        await _read(app_client, pmh, "Subscription", _id=sub_id, _elements="channel"),
        await _read(app_client, pmh, "_history"),
    ]
    for answer in answers:
        assert answer.status_code == 200 or answer.status_code == 201
        assert "pmh-hook-secret" not in answer.text
    # The owner's read-modify-write (without the header) keeps the secret for the same endpoint.
    current = (await _read(app_client, pmh, f"Subscription/{sub_id}")).json()
    assert (await put(app_client, pmh, {**current, "reason": "renamed"})).status_code == 200
    async with app_client.app.state.fhir.db.read() as conn:  # type: ignore[attr-defined]
        stored = await app_client.app.state.fhir.repository.read(  # type: ignore[attr-defined]
            conn, "Subscription", sub_id, viewer=Viewer.system()
        )
    assert stored.content is not None and stored.content["channel"]["header"] == [SECRET]


# --- 3. sticky labels, judged per version ---------------------------------------------------------


async def test_a_granted_organisation_cannot_remove_the_label(app_client: httpx.AsyncClient, mint: Mint) -> None:
    obs = await _family(app_client, mint)
    consent_id = await _grant_hv(app_client, mint)
    hv = mint(org=HV)
    current = (await _read(app_client, hv, f"Observation/{obs}")).json()
    unlabelled = {
        **{k: v for k, v in current.items() if k != "meta"},
        "note": [{"text": "seen at the new birth visit"}],
    }
    updated = await put(app_client, hv, unlabelled)
    assert updated.status_code == 200
    assert any(s["code"] == "R" for s in updated.json()["meta"]["security"])
    revoked = {**consent(HV), "id": consent_id, "status": "inactive"}
    assert (await put(app_client, mint(GRANTS, org=PMH), revoked)).status_code == 200
    for token in (hv, mint(org=MAT)):
        assert (await _read(app_client, token, f"Observation/{obs}")).status_code == 404
        assert (await _read(app_client, token, f"Observation/{obs}/_history/1")).status_code == 404
        assert (await _read(app_client, token, f"Observation/{obs}/_history/2")).status_code == 404


async def test_an_earlier_labelled_version_stays_hidden_when_the_owner_lifts_the_label(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    await _family(app_client, mint)
    obs = await _labelled_by_maternity(app_client, mint)
    mat, hv = mint(org=MAT), mint(org=HV)
    current = (await _read(app_client, mat, f"Observation/{obs}")).json()
    released = {**{k: v for k, v in current.items() if k != "meta"}, "note": [{"text": "shareable summary"}]}
    lifted = await put(app_client, mat, released)
    assert lifted.status_code == 200, lifted.text  # the owner lifts its own label
    assert (await _read(app_client, hv, f"Observation/{obs}")).status_code == 200
    assert (await _read(app_client, hv, f"Observation/{obs}/_history/1")).status_code == 404
    history = (await _read(app_client, hv, f"Observation/{obs}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2"]


# --- 4. the audit trail through _has ------------------------------------------------------------


async def test_has_through_audit_events_needs_the_audit_scope(app_client: httpx.AsyncClient, mint: Mint) -> None:
    await _family(app_client, mint)
    await app_client.app.state.gate.trail.flush()  # type: ignore[attr-defined]
    probe = {"_has:AuditEvent:entity:agent": PMH}
    assert (await _read(app_client, mint(ALL, org=HV), "Patient", **probe)).status_code == 403
    revinclude = {"_revinclude": "AuditEvent:entity"}
    assert (await _read(app_client, mint(ALL, org=HV), "Patient", **revinclude)).status_code == 403
    auditor = mint(f"{ALL} system/AuditEvent.rs", org=HV)
    assert (await _read(app_client, auditor, "Patient", **probe)).status_code == 200


# --- 5 and 11. conditional writes and ids tell nothing about invisible records ------------------


def _identified(value: str) -> dict[str, Any]:
    return {
        **observation("Patient/baby"),
        "identifier": [{"system": "https://w3id.org/dyad/fhir/Id/test", "value": value}],
    }


async def test_conditional_create_matching_only_an_invisible_record_answers_as_for_none(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    await put(app_client, mint(org=MAT), {**infant(), "id": "baby"})
    pmh, hv = mint(org=PMH), mint(org=HV)
    criteria = "identifier=https://w3id.org/dyad/fhir/Id/test|A1"
    first = await app_client.post(
        "/fhir/Observation", json=_identified("A1"), headers={**auth(pmh), "If-None-Exist": criteria}
    )
    assert first.status_code == 201
    b1 = "identifier=https://w3id.org/dyad/fhir/Id/test|B1"
    assert (
        await app_client.post("/fhir/Observation", json=_identified("B1"), headers={**auth(pmh), "If-None-Exist": b1})
    ).status_code == 201
    probes = []
    for value in ("A1", "FREE"):
        probe = f"identifier=https://w3id.org/dyad/fhir/Id/test|{value}"
        probes.append(
            await app_client.post(
                "/fhir/Observation", json=_identified(value), headers={**auth(hv), "If-None-Exist": probe}
            )
        )
    assert [p.status_code for p in probes] == [201, 201]
    updated = await app_client.put(
        "/fhir/Observation",
        params={"identifier": "https://w3id.org/dyad/fhir/Id/test|B1"},
        json=_identified("B1"),
        headers=auth(mint(org=MAT)),
    )
    assert updated.status_code == 201
    # The owner's own identical conditional create still finds its record.
    c1 = "identifier=https://w3id.org/dyad/fhir/Id/test|C1"
    made = await app_client.post(
        "/fhir/Observation", json=_identified("C1"), headers={**auth(pmh), "If-None-Exist": c1}
    )
    again = await app_client.post(
        "/fhir/Observation", json=_identified("C1"), headers={**auth(pmh), "If-None-Exist": c1}
    )
    assert (made.status_code, again.status_code) == (201, 200) and again.json()["id"] == made.json()["id"]


async def _typed_pmh_team(client: httpx.AsyncClient, mint: Mint) -> str:
    team = {
        "resourceType": "Organization",
        "id": "RX4-PMH",
        "name": "Community perinatal mental health team",
        "type": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "901221000000102",
                        "display": "Perinatal mental health service",
                    }
                ]
            }
        ],
    }
    assert (await put(client, mint(org=MAT), team)).status_code == 201
    return "Organization/RX4-PMH"


async def test_update_by_id_tells_nothing_about_whether_a_restricted_id_exists(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    assert len(obs) == 36  # a restricted record's id is the server's (random), never a client's
    pmh = mint(org=PMH, subject="client-pmh")
    refused = await put(app_client, pmh, {**observation("Patient/baby"), "id": "chosen-by-client"})
    assert refused.status_code == 422
    assert (await put(app_client, pmh, {**observation("Patient/baby"), "id": obs})).status_code == 200
    # Another restricted writer gets the same answer for the taken (invisible) id as for a free one.
    other_pmh = mint(org=await _typed_pmh_team(app_client, mint))
    taken = await put(app_client, other_pmh, {**observation("Patient/baby"), "id": obs})
    free = await put(app_client, other_pmh, {**observation("Patient/baby"), "id": "another-free-id"})
    assert (taken.status_code, taken.json()["issue"][0]["diagnostics"].replace(obs, "X")) == (
        free.status_code,
        free.json()["issue"][0]["diagnostics"].replace("another-free-id", "X"),
    )


# --- 6. derived records inherit labels -----------------------------------------------------------


async def test_provenance_and_prompts_of_a_restricted_write_are_restricted(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    hv, pmh = mint(f"{ALL}", org=HV), mint(org=PMH)
    provenance = (await _read(app_client, hv, "Provenance", target=f"Observation/{obs}")).json()
    assert provenance["total"] == 0
    assert (await _read(app_client, pmh, "Provenance", target=f"Observation/{obs}")).json()["total"] == 1
    await app_client.app.state.gate.trail.flush()  # type: ignore[attr-defined]
    async with app_client.app.state.fhir.db.read() as conn:  # type: ignore[attr-defined]
        rows = (
            await conn.execute(
                select(ResourceRow.res_type, ResourceRow.restricted, ResourceRow.owner_org)
                .join(ResourceVersionRow, ResourceVersionRow.resource_pk == ResourceRow.pk)
                .where(ResourceRow.res_type.in_(["Provenance", "AuditEvent"]))
            )
        ).all()
    about_obs = [r for r in rows if r.restricted]
    assert {r.res_type for r in about_obs} == {"Provenance", "AuditEvent"}
    assert {r.owner_org for r in about_obs} == {PMH}


# --- design: fail closed -------------------------------------------------------------------------


async def test_a_token_without_an_organisation_sees_nothing_restricted(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    obs = await _family(app_client, mint)
    nobody = mint(org=None)
    assert (await _read(app_client, nobody, f"Observation/{obs}")).status_code == 404
    assert (await _read(app_client, nobody, "Observation", subject="Patient/baby")).json()["total"] == 0


# --- issue 10 #10: identity is never restricted --------------------------------------------------


async def test_a_baby_first_recorded_by_perinatal_mental_health_is_found_by_health_visiting(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    baby = {**infant(), "identifier": [{"system": NHS, "value": "9000000009"}]}
    criteria = f"identifier={NHS}|9000000009"
    first = await app_client.post(
        "/fhir/Patient", json=baby, headers={**auth(mint(org=PMH)), "If-None-Exist": criteria}
    )
    assert first.status_code == 201
    assert not any(s.get("code") == "R" for s in first.json().get("meta", {}).get("security", []))
    again = await app_client.post("/fhir/Patient", json=baby, headers={**auth(mint(org=HV)), "If-None-Exist": criteria})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    found = (await _read(app_client, mint(org=HV), "Patient", identifier=f"{NHS}|9000000009")).json()
    assert found["total"] == 1


async def test_a_write_by_an_organisation_typed_perinatal_mental_health_is_restricted(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    typed = mint(org=await _typed_pmh_team(app_client, mint))
    await put(app_client, mint(org=MAT), {**infant(), "id": "baby"})
    written = await app_client.post("/fhir/Observation", json=observation("Patient/baby"), headers=auth(typed))
    assert written.status_code == 201
    assert any(s["code"] == "R" for s in written.json()["meta"]["security"])
    assert (await _read(app_client, mint(org=HV), f"Observation/{written.json()['id']}")).status_code == 404


async def test_the_prompt_the_pathway_derives_from_a_restricted_observation_is_restricted(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    from tests.pathway.family import HEALTH_VISITING, MIDWIFERY, PERINATAL_MH, concern_observation, seed_family

    midwives = httpx.AsyncClient(
        transport=app_client._transport,
        base_url="http://dyad.test",
        headers={"Authorization": f"Bearer {mint(org=MIDWIFERY)}"},
    )
    async with midwives:
        await seed_family(midwives)
    observation = {**concern_observation(), "performer": [{"reference": PERINATAL_MH}]}
    written = await app_client.post("/fhir/Observation", json=observation, headers=auth(mint(org=PERINATAL_MH)))
    assert written.status_code == 201, written.text
    # The team it prompts sees its work (a concern must reach it); the note behind it stays hidden.
    theirs = (await _read(app_client, mint(org=HEALTH_VISITING), "Task")).json()
    prompts = [
        e["resource"]
        for e in theirs.get("entry", [])
        if e["resource"].get("reasonReference", {}).get("reference") == f"Observation/{written.json()['id']}"
    ]
    assert len(prompts) == 1
    assert any(s["code"] == "R" for s in prompts[0]["meta"]["security"])
    prompt = f"Task/{prompts[0]['id']}"
    assert (
        await _read(app_client, mint(org=HEALTH_VISITING), f"Observation/{written.json()['id']}")
    ).status_code == 404
    # Nobody else does: neither the prompt nor the record of how it was made.
    assert (await _read(app_client, mint(org=MIDWIFERY), prompt)).status_code == 404
    provenance = await _read(app_client, mint(org=MIDWIFERY), "Provenance", target=prompt)
    assert provenance.json()["total"] == 0


async def test_another_organisation_may_not_untype_a_perinatal_mental_health_team_to_read_its_writes(
    app_client: httpx.AsyncClient, mint: Mint
) -> None:
    """An Organization whose id is not an ODS code (a token may name a bare logical id) is how its
    team's direct writes come to be restricted: its type. Health visiting rewriting it without
    the type would make the team's next notes readable by every organisation."""
    team = await _typed_pmh_team(app_client, mint)
    held = (await _read(app_client, mint(org=HV), team)).json()
    untyped = {k: v for k, v in held.items() if k not in ("type", "meta")}
    stripped = await put(app_client, mint(org=HV), untyped)
    assert stripped.status_code == 403, stripped.text
    await put(app_client, mint(org=MAT), {**infant(), "id": "baby"})
    written = await app_client.post("/fhir/Observation", json=observation("Patient/baby"), headers=auth(mint(org=team)))
    assert written.status_code == 201
    assert (await _read(app_client, mint(org=HV), f"Observation/{written.json()['id']}")).status_code == 404
