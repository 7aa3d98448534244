"""Every refusal becomes an OperationOutcome with FHIR's status code."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from service.api.disconnect import CLIENT_CLOSED_REQUEST, ClientDisconnected
from service.api.outcome import FhirError, operation_outcome
from service.api.responses import fhir_json
from service.errors import DyadError, Issue

log = logging.getLogger("dyad.api")


def status_and_issues(exc: Exception) -> tuple[int, list[Issue]]:
    if isinstance(exc, DyadError):
        return exc.status, exc.outcome()
    return 500, [Issue("fatal", "exception", "The server failed to process the request")]


def _outcome_response(
    request: Request, status: int, issues: list[Issue], headers: dict[str, str] | None = None
) -> Response:
    return fhir_json(operation_outcome(issues), request, status=status, headers=headers)


async def _on_known(request: Request, exc: Exception) -> Response:
    status, issues = status_and_issues(exc)
    headers = exc.headers if isinstance(exc, FhirError) else None
    return _outcome_response(request, status, issues, headers)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "No such FHIR endpoint", 405: f"{request.method} is not allowed here"}
    message = messages.get(exc.status_code, str(exc.detail))
    code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
    return _outcome_response(request, exc.status_code, [Issue("error", code, message)], getattr(exc, "headers", None))


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue("error", "invalid", f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}") for e in exc.errors()
    ]
    return _outcome_response(request, 400, issues)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The exception's text may quote clinical content: the log gets its type and where it passed.
    log.error("unhandled error", exc_info=exc, extra={"error_type": type(exc).__name__})
    return _outcome_response(request, 500, status_and_issues(exc)[1])


async def _on_disconnected(_request: Request, _exc: Exception) -> Response:
    return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody reads it; the metrics count it


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DyadError, _on_known)
    app.add_exception_handler(ClientDisconnected, _on_disconnected)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(Exception, _on_unexpected)
