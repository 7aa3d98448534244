"""The door every FHIR request passes: who is calling (bearer token), how often (rate limit),
and the audit of anything that did not record its own."""

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.outcome import FhirError
from service.config import Settings
from service.security.access import Access
from service.security.audit import AuditRecord, AuditTrail
from service.security.rate_limit import RateLimiter, bucket_key
from service.security.tokens import (
    AuthenticationError,
    Caller,
    KeysUnavailableError,
    TokenVerifier,
    verifier_from_settings,
)

log = logging.getLogger("dyad.security")


@dataclass
class Gate:
    verifier: TokenVerifier | None
    limiter: RateLimiter | None
    trail: AuditTrail

    @classmethod
    def from_settings(cls, settings: Settings, trail: AuditTrail) -> "Gate":
        verifier = verifier_from_settings(settings)
        if verifier is None:
            log.warning(
                "AUTHENTICATION IS OFF: every caller may read and write everything. "
                "For trying Dyad locally only; set DYAD_AUTH=jwt for any real data."
            )
        return cls(verifier, RateLimiter.from_settings(settings), trail)

    async def admit(self, request: Request) -> Access:
        self._audit_possible(request)
        caller = await self._caller(request)
        self._limit(request, caller)
        access = Access.of(caller)
        request.state.access = access
        return access

    async def _caller(self, request: Request) -> Caller:
        if self.verifier is None:
            return Caller.local_unauthenticated()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("a bearer token is required")
            return await self.verifier.verify(token.strip())
        except KeysUnavailableError:
            raise  # our failure, not the caller's: answered 503
        except AuthenticationError as refused:
            self._limit(request, None)
            self.trail.record(AuditRecord(_anonymous(), _interaction(request), 401, failure=refused.reason))
            request.state.audited = True
            raise FhirError(
                401,
                f"Authentication failed: {refused.reason}",
                code="login",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None

    def _audit_possible(self, request: Request) -> None:
        """Fail closed: a request that could not be audited is not served."""
        if self.trail.accepting:
            return
        request.state.audited = True  # refused before anything was read; counted, not queued
        request.app.state.metrics.audit_refused.inc()
        raise FhirError(
            503,
            "The audit trail cannot be written at the moment; try again shortly",
            code="transient",
            headers={"Retry-After": "5"},
        )

    def _limit(self, request: Request, caller: Caller | None) -> None:
        if self.limiter is None:
            return
        address = request.client.host if request.client else None
        decision = self.limiter.check(bucket_key(caller, address))
        if not decision.allowed:
            raise FhirError(
                429,
                "Too many requests; slow down",
                code="throttled",
                headers={"Retry-After": str(decision.retry_after_seconds)},
            )


def _anonymous() -> Caller:
    return Caller(None, None, None, Caller.local_unauthenticated().scopes.empty(), None, None, None, True)


def _interaction(request: Request) -> str:
    return getattr(request.state, "interaction", None) or "operation-unknown"


async def authenticate(request: Request) -> Access:
    gate: Gate = request.app.state.gate
    return await gate.admit(request)


Authenticated = Annotated[Access, Depends(authenticate)]


class AuditUnrecorded:
    """ASGI middleware: a FHIR request that did not write its own AuditEvent gets one afterwards."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._record(scope, status)

    def _record(self, scope: Scope, status: int) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        access: Access | None = state.get("access")
        if access is None or state.get("audited"):
            return
        interaction = state.get("interaction") or "operation-unknown"
        gate: Gate = scope["app"].state.gate
        gate.trail.record(AuditRecord(access.caller, interaction, status, tuple(state.get("audit_entities", ()))))
