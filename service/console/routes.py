"""Serving the console: its pages, its static files, and what the sign-in page needs to know.

Pages and assets are files under `static/`; nothing here reads a record. HTML is never cached
(`no-store`), assets are revalidated by ETag (there is no build step to fingerprint them). A
strict Content-Security-Policy allows only this origin's own files: no inline script, no CDN.
"""

import hashlib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from service.api.outcome import FhirError
from service.config import Settings
from service.security.dev_keys import DevSigningKey, dev_issuer_and_audience
from service.security.tokens import uses_dev_key

STATIC = Path(__file__).resolve().parent / "static"
PAGES = frozenset({"validate", "guide", "pathway", "signin"})
# One level, a plain name and a known extension: no path can climb out of STATIC.
_ASSET = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|png|svg)$")
_MEDIA = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "png": "image/png",
    "svg": "image/svg+xml",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
DEV_TOKEN_SCOPES = "system/*.cruds"
DEV_TOKEN_LIFETIME = 3600


def console_router(settings: Settings) -> APIRouter:
    """The console's routes under /console, for these settings (wired in create_app)."""
    router = APIRouter(prefix="/console", include_in_schema=False)

    @router.get("")
    @router.get("/")
    async def console_home() -> Response:
        return RedirectResponse("/console/validate", status_code=302, headers=SECURITY_HEADERS)

    @router.get("/session.json")
    async def session() -> Response:
        """What the sign-in page and the nav need: whether tokens are required, and how to read one."""
        return JSONResponse(
            {
                "auth": settings.auth,
                "devToken": dev_token_offered(settings),
                "orgClaim": settings.jwt_org_claim,
            },
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
        )

    @router.post("/dev-token")
    async def dev_token(request: Request, organization: Annotated[str, Body(embed=True)]) -> Response:
        """A token signed by the development key, for a loopback caller of a development server only."""
        if not dev_token_offered(settings) or not _loopback(request) or not _loopback_host(request):
            raise FhirError(404, "Development tokens are not issued here", code="not-found")
        return JSONResponse(
            {"access_token": mint_dev_token(settings, organization), "token_type": "Bearer"},
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
        )

    @router.get("/static/{name}")
    async def asset(request: Request, name: str) -> Response:
        return static_asset(name, request.headers.get("if-none-match"))

    @router.get("/family/{patient_id}")
    async def family(patient_id: str) -> Response:
        # The id is read by the page's script from the URL; it is never put into the HTML.
        return page("family")

    @router.get("/{name}")
    async def console_page(name: str) -> Response:
        return page(name) if name in PAGES else page_not_found()

    return router


def dev_token_offered(settings: Settings) -> bool:
    """Only a jwt server that trusts the development key (DYAD_SERVE_DEV_JWKS) mints tokens; else no."""
    return settings.auth == "jwt" and uses_dev_key(settings)


def mint_dev_token(settings: Settings, organization: str) -> str:
    organization = organization.strip()
    if not organization or len(organization) > 200:
        raise FhirError(400, "Name the organisation the development token is for", code="required")
    issuer, audience = dev_issuer_and_audience(settings)
    return DevSigningKey.from_settings(settings).mint(
        subject="dyad-console",
        scopes=DEV_TOKEN_SCOPES,
        organization=organization,
        audience=audience,
        issuer=issuer,
        lifetime=DEV_TOKEN_LIFETIME,
        org_claim=settings.jwt_org_claim,
    )


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_host(request: Request) -> bool:
    """Whether the page asked for this server by a loopback name. A site the developer visits can
    resolve its own name to 127.0.0.1 (DNS rebinding): its script then reaches the server from
    loopback, same-origin with itself, and would read the token; the Host it sends is its name."""
    hostname = urlsplit("//" + request.headers.get("host", "")).hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def page(name: str) -> Response:
    path = STATIC / f"{name}.html"
    if not path.is_file():
        return page_not_found()
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return Response(path.read_bytes(), media_type="text/html; charset=utf-8", headers=headers)


# A person typed or followed this address: answer with a page a browser shows (an OperationOutcome
# would be offered as a download), saying nothing of what was asked for.
_NOT_FOUND = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found \xc2\xb7 Dyad console</title>'
    b'<link rel="stylesheet" href="/console/static/console.css"></head><body><main id="main">'
    b'<h1>Page not found</h1><p>The console has no such page. <a href="/console/validate">Go to the console</a>.</p>'
    b"</main></body></html>"
)


def page_not_found() -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return Response(_NOT_FOUND, status_code=404, media_type="text/html; charset=utf-8", headers=headers)


def static_asset(name: str, if_none_match: str | None) -> Response:
    match = _ASSET.match(name)
    path = STATIC / name
    if match is None or not path.is_file():
        raise FhirError(404, "No such console file", code="not-found")
    content = path.read_bytes()
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    # No build step fingerprints the files, so the browser keeps them but asks each time whether
    # they changed: a 304 costs one round trip and an upgraded server is seen at once.
    headers: dict[str, Any] = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": etag}
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=_MEDIA[match.group(1)], headers=headers)
