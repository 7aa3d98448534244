"""Logs are JSON, carry the request id, and never identifiers or clinical content."""

import json
import logging

import httpx
import pytest

from service.telemetry.logs import JsonFormatter
from tests.fhir_samples import FHIR_JSON, NHS, infant


@pytest.fixture
def captured() -> list[str]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_request_log_is_json_with_request_id_and_no_identifiers(
    client: httpx.AsyncClient, captured: list[str]
) -> None:
    patient = infant(nhs_number="9434765919", family="Featherstonehaugh")
    await client.post("/fhir/Patient", json=patient, headers={**FHIR_JSON, "X-Request-Id": "req42"})
    await client.get("/fhir/Patient", params={"identifier": f"{NHS}|9434765919", "family": "Featherstonehaugh"})
    await client.post("/fhir/Patient", content=b'{"name": "Featherstonehaugh 9434765919"', headers=FHIR_JSON)
    request_lines = [json.loads(line) for line in captured if '"event":"request"' in line]
    assert len(request_lines) == 3
    assert request_lines[0]["request_id"] == "req42"
    assert request_lines[0]["route"] == "/fhir/{res_type}"
    everything = "\n".join(captured)
    assert "9434765919" not in everything
    assert "Featherstonehaugh" not in everything


def test_formatter_drops_fields_that_are_not_allowed() -> None:
    record = logging.LogRecord("dyad", logging.INFO, __file__, 1, "event", None, None)
    record.nhs_number = "9434765919"
    record.status = 201
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 201
    assert "nhs_number" not in line
