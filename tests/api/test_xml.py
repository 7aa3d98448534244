"""FHIR XML over HTTP: request bodies, responses by `_format` and Accept, Bundles, outcomes."""

import httpx
from lxml import etree

from service.conformance.fhir_xml import FHIR_NS, from_xml, to_xml
from tests.fhir_samples import FHIR_JSON, infant, observation

XML = "application/fhir+xml"
F = f"{{{FHIR_NS}}}"

NARRATED_PATIENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <text>
    <status value="generated"/>
    <div xmlns="http://www.w3.org/1999/xhtml"><p>Ada <b>Okafor</b>, born 14 September 2026</p></div>
  </text>
  <identifier>
    <system value="https://fhir.nhs.uk/Id/nhs-number"/>
    <value value="9000000009"/>
  </identifier>
  <name>
    <family value="Okafor"/>
    <given value="Ada"/>
    <given value="Grace">
      <extension url="http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier">
        <valueCode value="CL"/>
      </extension>
    </given>
  </name>
  <birthDate value="2026-09-14">
    <extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">
      <valueDateTime value="2026-09-14T06:10:00Z"/>
    </extension>
  </birthDate>
</Patient>
"""


def _root(response: httpx.Response) -> etree._Element:
    assert response.headers["content-type"].startswith(XML), response.headers["content-type"]
    return etree.fromstring(response.content)


async def test_an_xml_create_is_stored_and_read_back_in_both_formats(client: httpx.AsyncClient) -> None:
    created = await client.post("/fhir/Patient", content=NARRATED_PATIENT, headers={"Content-Type": XML, "Accept": XML})
    assert created.status_code == 201, created.text
    root = _root(created)
    assert root.tag == F + "Patient"
    res_id = root.find(F + "id").get("value")
    as_json = (await client.get(f"/fhir/Patient/{res_id}", headers={"Accept": "application/fhir+json"})).json()
    assert as_json["_birthDate"]["extension"][0]["valueDateTime"] == "2026-09-14T06:10:00Z"
    assert as_json["name"][0]["given"] == ["Ada", "Grace"]
    assert as_json["name"][0]["_given"] == [
        None,
        {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier", "valueCode": "CL"}]},
    ]
    assert as_json["text"]["div"] == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Ada <b>Okafor</b>, born 14 September 2026</p></div>'
    )
    as_xml = await client.get(f"/fhir/Patient/{res_id}", params={"_format": "xml"})
    assert from_xml(as_xml.content) == as_json


async def test_elements_come_in_the_definitions_order(client: httpx.AsyncClient) -> None:
    sent = {**infant(), "birthDate": "2026-09-14", "gender": "female", "active": True}  # JSON order: not FHIR's
    created = (await client.post("/fhir/Patient", json=sent, headers=FHIR_JSON)).json()
    root = _root(await client.get(f"/fhir/Patient/{created['id']}", headers={"Accept": XML}))
    names = [etree.QName(child).localname for child in root]
    assert names == ["id", "meta", "identifier", "active", "name", "gender", "birthDate"]
    assert root.find(F + "active").get("value") == "true"


async def test_accept_quality_and_format_choose_the_response_format(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).json()
    url = f"/fhir/Patient/{created['id']}"
    prefers_xml = await client.get(url, headers={"Accept": "application/fhir+json;q=0.5, application/fhir+xml"})
    assert prefers_xml.headers["content-type"].startswith(XML)
    anything = await client.get(url, headers={"Accept": "*/*"})
    assert anything.headers["content-type"].startswith("application/fhir+json")
    overridden = await client.get(url, params={"_format": "json"}, headers={"Accept": XML})
    assert overridden.headers["content-type"].startswith("application/fhir+json")


async def test_search_history_and_errors_answer_in_xml(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=infant(), headers=FHIR_JSON)).json()
    search = _root(await client.get("/fhir/Patient", params={"_format": "xml"}))
    assert search.tag == F + "Bundle"
    assert search.find(f"{F}entry/{F}resource/{F}Patient/{F}id").get("value") == created["id"]
    history = _root(await client.get(f"/fhir/Patient/{created['id']}/_history", headers={"Accept": XML}))
    assert history.find(F + "type").get("value") == "history"
    missing = await client.get("/fhir/Patient/nobody", headers={"Accept": XML})
    assert missing.status_code == 404
    assert _root(missing).tag == F + "OperationOutcome"


async def test_an_xml_transaction_is_processed_and_answered_in_xml(client: httpx.AsyncClient) -> None:
    urn = "urn:uuid:11111111-1111-4111-8111-111111111111"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": urn, "resource": infant(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": observation(urn),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = await client.post("/fhir", content=to_xml(bundle), headers={"Content-Type": XML, "Accept": XML})
    assert response.status_code == 200, response.text
    answer = from_xml(response.content)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created", "201 Created"]
    stored = (await client.get("/fhir/Observation")).json()["entry"][0]["resource"]
    assert stored["subject"]["reference"] == answer["entry"][0]["response"]["location"].rsplit("/_history", 1)[0]


async def test_validate_takes_xml(client: httpx.AsyncClient) -> None:
    broken = to_xml({**infant(), "gender": "bogus"})
    response = await client.post(
        "/fhir/Patient/$validate", content=broken, headers={"Content-Type": XML, "Accept": XML}
    )
    outcome = from_xml(response.content)
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("gender" in " ".join(i.get("expression", [])) for i in outcome["issue"]), outcome


async def test_xml_that_is_not_fhir_or_declares_entities_is_refused_and_nothing_stored(
    client: httpx.AsyncClient,
) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&b;"/></name></Patient>'
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&x;"/></name></Patient>'
    )
    unknown = b'<Patient xmlns="http://hl7.org/fhir"><nickname value="Ada"/></Patient>'
    wrong_namespace = b'<Patient><name><family value="Okafor"/></name></Patient>'
    for body in (bomb, external, unknown, wrong_namespace, b"<Patient"):
        response = await client.post("/fhir/Patient", content=body, headers={"Content-Type": XML})
        assert response.status_code == 400, (body, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/fhir/Patient")).json()["total"] == 0
