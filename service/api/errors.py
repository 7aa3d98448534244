"""Every refusal becomes an OperationOutcome with FHIR's status code."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from service.api.disconnect import CLIENT_CLOSED_REQUEST, ClientDisconnected
from service.api.outcome import FhirError, operation_outcome
from service.api.responses import fhir_json
from service.conformance.issues import InvalidResource, Issue
from service.conformance.parse import UnsupportedType
from service.search.query import SearchError
from service.security.access import AccessDenied
from service.security.tokens import KeysUnavailableError
from service.store.errors import (
    DuplicateIdentity, IdNotAssignable, NotOwner, ResourceGone, ResourceNotFound, StatementTimedOut, VersionConflict,
)

log = logging.getLogger("dyad.api")


def status_and_issues(exc: Exception) -> tuple[int, list[Issue]]:
    if isinstance(exc, FhirError):
        return exc.status, exc.issues
    if isinstance(exc, InvalidResource):
        return exc.status, exc.issues
    if isinstance(exc, UnsupportedType):
        return 404, [Issue("error", "not-supported", str(exc))]
    if isinstance(exc, SearchError):
        return 400, [Issue("error", "invalid", str(exc))]
    if isinstance(exc, ResourceNotFound):
        return 404, [Issue("error", "not-found", str(exc))]
    if isinstance(exc, ResourceGone):
        return 410, [Issue("error", "deleted", str(exc))]
    if isinstance(exc, DuplicateIdentity):
        return 409, [Issue("error", "duplicate", str(exc), "Patient.identifier")]
    if isinstance(exc, VersionConflict):
        return 412, [Issue("error", "conflict", str(exc))]
    if isinstance(exc, IdNotAssignable):
        return 422, [Issue("error", "business-rule", str(exc))]
    if isinstance(exc, (AccessDenied, NotOwner)):
        return 403, [Issue("error", "forbidden", str(exc))]
    if isinstance(exc, StatementTimedOut):
        return 503, [Issue("error", "too-costly", str(exc))]
    if isinstance(exc, KeysUnavailableError):
        return 503, [Issue("error", "transient", exc.reason)]
    return 500, [Issue("fatal", "exception", "The server failed to process the request")]


def _outcome_response(request: Request, status: int, issues: list[Issue], headers: dict[str, str] | None = None) -> Response:
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
    issues = [Issue("error", "invalid", f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}") for e in exc.errors()]
    return _outcome_response(request, 400, issues)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The exception's text may quote clinical content: the log gets its type and where it passed.
    log.error("unhandled error", exc_info=exc, extra={"error_type": type(exc).__name__})
    return _outcome_response(request, 500, status_and_issues(exc)[1])


async def _on_disconnected(_request: Request, _exc: Exception) -> Response:
    return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody reads it; the metrics count it


def install_error_handlers(app: FastAPI) -> None:
    for kind in (
        FhirError, InvalidResource, UnsupportedType, SearchError, ResourceNotFound, ResourceGone, VersionConflict,
        AccessDenied, NotOwner, IdNotAssignable, DuplicateIdentity, StatementTimedOut,
    ):
        app.add_exception_handler(kind, _on_known)
    app.add_exception_handler(ClientDisconnected, _on_disconnected)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(Exception, _on_unexpected)
