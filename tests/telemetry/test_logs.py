"""Logs are JSON, carry the request id, and never identifiers or clinical content."""

import json
import logging

import httpx
import pytest

from service.app import create_app
from service.config import Settings
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


def test_startup_messages_of_the_server_machinery_are_formatted() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Uvicorn running on %s://%s:%d", ("http", "127.0.0.1", 8080), None
    )
    assert json.loads(JsonFormatter().format(record))["event"] == "Uvicorn running on http://127.0.0.1:8080"


def test_dyad_messages_never_take_arguments_into_the_line() -> None:
    record = logging.LogRecord("dyad.api", logging.INFO, __file__, 1, "looked up %s", ("9434765919",), None)
    line = JsonFormatter().format(record)
    assert json.loads(line)["event"] == "looked up %s"
    assert "9434765919" not in line


async def test_an_unhandled_error_is_logged_with_where_it_passed_and_not_what_it_said(
    settings: Settings, captured: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("Featherstonehaugh 9434765919")

    monkeypatch.setattr("service.api.system_routes.capability_statement", broken)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyad.test") as http:
            response = await http.get("/fhir/metadata")
    assert response.status_code == 500
    unhandled = [json.loads(line) for line in captured if '"event":"unhandled error"' in line]
    assert len(unhandled) == 1
    assert unhandled[0]["error_type"] == "RuntimeError"
    assert any(frame.endswith(" in broken") for frame in unhandled[0]["traceback"])
    everything = "\n".join(captured)
    assert "9434765919" not in everything
    assert "Featherstonehaugh" not in everything
