"""Where a client learns how to authenticate: SMART configuration, and the development JWKS."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.outcome import FhirError
from service.security.dev_keys import DevSigningKey
from service.security.tokens import uses_dev_key

router = APIRouter(tags=["security"])


@router.get("/.well-known/jwks.json", summary="Public keys of the development token issuer (when enabled)")
async def development_jwks(request: Request) -> JSONResponse:
    settings = request.app.state.fhir.settings
    if not uses_dev_key(settings):
        raise FhirError(404, "The development JWKS is not served here", code="not-found")
    return JSONResponse(DevSigningKey.from_settings(settings).jwks())


@router.get("/fhir/.well-known/smart-configuration", summary="SMART on FHIR configuration")
async def smart_configuration(request: Request) -> JSONResponse:
    settings = request.app.state.fhir.settings
    return JSONResponse(
        {
            "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
            "scopes_supported": ["system/*.cruds", "user/*.cruds", "system/AuditEvent.rs"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "grant_types_supported": ["client_credentials"],
            "issuer": settings.jwt_issuer or None,
            "jwks_uri": settings.jwt_jwks_url or None,
        }
    )
