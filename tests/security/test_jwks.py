"""Key sets: which JWKS entries are usable, and how a JWKS URL is fetched, cached and refreshed.

The URL tests run a real HTTP server on a loopback port and count its requests.
"""

import asyncio
import base64
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.security.jwks import (
    CachedKeySource,
    KeySetUnavailable,
    StaticKeySource,
    check_jwks_url,
    file_loader,
    parse_jwks,
    url_loader,
)
from service.security.tokens import (
    KeysUnavailableError,
    SecurityConfigurationError,
    TokenVerifier,
    key_source_from_settings,
    verifier_from_settings,
)
from tests.security.conftest import SigningKey, claims, jwks_of, settings

# --- which keys are kept ---------------------------------------------------------------


def test_rsa_and_p256_keys_are_kept(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    keys = parse_jwks(jwks_of(rsa_key, ec_key))
    assert [(key.kid, key.algorithm) for key in keys.keys] == [("rsa-1", "RS256"), ("ec-1", "ES256")]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "reason",
    [
        "symmetric",
        "p384",
        "short_rsa",
        "encryption",
        "other_alg",
        "verify_not_allowed",
        "off_curve",
        "no_n",
        "kid_number",
    ],
)
def test_unusable_keys_are_skipped(reason: str, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    y = int.from_bytes(base64.urlsafe_b64decode(ec_key.jwk()["y"] + "=="), "big")
    entries: dict[str, Callable[[], dict[str, Any]]] = {
        "symmetric": lambda: {"kty": "oct", "k": _b64(b"secret" * 8), "kid": "k", "alg": "HS256"},
        "p384": lambda: SigningKey(ec.generate_private_key(ec.SECP384R1()), "k", "ES384").jwk(alg="ES384"),
        "short_rsa": lambda: SigningKey(rsa.generate_private_key(65537, 1024), "k", "RS256").jwk(),
        "encryption": lambda: rsa_key.jwk(use="enc"),
        "other_alg": lambda: rsa_key.jwk(alg="RS512"),
        "verify_not_allowed": lambda: rsa_key.jwk(key_ops=["encrypt"]),
        "off_curve": lambda: ec_key.jwk(y=_b64((y ^ 1).to_bytes(32, "big"))),
        "no_n": lambda: {k: v for k, v in rsa_key.jwk().items() if k != "n"},
        "kid_number": lambda: rsa_key.jwk(kid=5),
    }
    assert parse_jwks({"keys": [entries[reason]()]}).keys == ()


def test_private_parameters_are_ignored(rsa_key: SigningKey) -> None:
    with_private = rsa_key.jwk(d=_b64(b"not really private"))
    key = parse_jwks({"keys": [with_private]}).keys[0]
    assert not hasattr(key.public_key, "private_bytes")


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, "keys", None])
def test_a_jwks_must_be_an_object_with_a_keys_array(document: object) -> None:
    with pytest.raises(ValueError):
        parse_jwks(document)


def test_two_keys_under_one_kid_are_refused(rsa_key: SigningKey, stranger_key: SigningKey) -> None:
    with pytest.raises(ValueError):
        parse_jwks({"keys": [rsa_key.jwk(), stranger_key.jwk(kid="rsa-1")]})


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://idp.example/jwks", True),
        ("http://127.0.0.1:8000/jwks", True),
        ("http://localhost/jwks", True),
        ("http://[::1]/jwks", True),
        ("http://idp.example/jwks", False),
        ("http://10.0.0.1/jwks", False),
        ("ftp://idp.example/jwks", False),
        ("file:///etc/passwd", False),
        ("https:///jwks", False),
    ],
)
def test_jwks_url_must_be_https_or_loopback(url: str, allowed: bool) -> None:
    if allowed:
        check_jwks_url(url)
    else:
        with pytest.raises(ValueError):
            check_jwks_url(url)


# --- a JWKS file -----------------------------------------------------------------------


async def test_file_source_loads_and_reloads_on_rotation(
    tmp_path: Path, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks_of(rsa_key)))
    now = [0.0]
    source = CachedKeySource(file_loader(path), cache_seconds=300, refresh_min_seconds=10, clock=lambda: now[0])
    verifier = TokenVerifier(settings(), source)
    await verifier.verify(rsa_key.sign(claims()))
    path.write_bytes(orjson.dumps(jwks_of(ec_key)))
    now[0] = 11
    await verifier.verify(ec_key.sign(claims()))


async def test_missing_file_means_keys_unavailable(tmp_path: Path, rsa_key: SigningKey) -> None:
    source = CachedKeySource(file_loader(tmp_path / "absent.json"), cache_seconds=300, refresh_min_seconds=10)
    with pytest.raises(KeysUnavailableError):
        await TokenVerifier(settings(), source).verify(rsa_key.sign(claims()))


# --- a JWKS URL, against a real HTTP server --------------------------------------------


@dataclass
class JwksServer:
    url: str
    document: dict[str, Any]
    status: int = 200
    redirect_to: str | None = None
    padding: int = 0
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def jwks_server(rsa_key: SigningKey) -> Iterator[JwksServer]:
    state = JwksServer(url="", document=jwks_of(rsa_key))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
                self.end_headers()
                return
            body = orjson.dumps({**state.document, "padding": "x" * state.padding})
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def url_verifier(
    server: JwksServer, clock: Clock, cache_seconds: float = 300, refresh_min_seconds: float = 30
) -> TokenVerifier:
    source = CachedKeySource(
        url_loader(server.url), cache_seconds=cache_seconds, refresh_min_seconds=refresh_min_seconds, clock=clock
    )
    return TokenVerifier(settings(), source)


async def test_jwks_url_is_fetched_once_and_cached(jwks_server: JwksServer, rsa_key: SigningKey) -> None:
    clock = Clock()
    verifier = url_verifier(jwks_server, clock)
    for _ in range(5):
        await verifier.verify(rsa_key.sign(claims()))
    assert len(jwks_server.requests) == 1
    clock.now = 299
    await verifier.verify(rsa_key.sign(claims()))
    assert len(jwks_server.requests) == 1
    clock.now = 301
    await verifier.verify(rsa_key.sign(claims()))
    assert len(jwks_server.requests) == 2


async def test_concurrent_first_requests_share_one_fetch(jwks_server: JwksServer, rsa_key: SigningKey) -> None:
    verifier = url_verifier(jwks_server, Clock())
    await asyncio.gather(*(verifier.verify(rsa_key.sign(claims())) for _ in range(20)))
    assert len(jwks_server.requests) == 1


async def test_unknown_kid_refetches_at_most_once_per_interval(
    jwks_server: JwksServer, rsa_key: SigningKey, stranger_key: SigningKey
) -> None:
    clock = Clock()
    verifier = url_verifier(jwks_server, clock)
    await verifier.verify(rsa_key.sign(claims()))
    clock.now = 31
    for number in range(50):
        with pytest.raises(Exception, match="unknown key"):
            await verifier.verify(stranger_key.sign(claims(), kid=f"attacker-{number}"))
    assert len(jwks_server.requests) == 2
    clock.now = 62
    with pytest.raises(Exception, match="unknown key"):
        await verifier.verify(stranger_key.sign(claims(), kid="attacker-again"))
    assert len(jwks_server.requests) == 3


async def test_rotated_key_at_the_url_is_picked_up(
    jwks_server: JwksServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    clock = Clock()
    verifier = url_verifier(jwks_server, clock)
    await verifier.verify(rsa_key.sign(claims()))
    jwks_server.document = jwks_of(rsa_key, ec_key)
    clock.now = 30
    assert (await verifier.verify(ec_key.sign(claims()))).subject == "hv-app"
    assert len(jwks_server.requests) == 2


async def test_issuer_outage_keeps_the_last_good_keys(jwks_server: JwksServer, rsa_key: SigningKey) -> None:
    clock = Clock()
    verifier = url_verifier(jwks_server, clock)
    await verifier.verify(rsa_key.sign(claims()))
    jwks_server.status = 500
    clock.now = 301
    await verifier.verify(rsa_key.sign(claims()))
    # The failed reload is not retried on every request.
    await verifier.verify(rsa_key.sign(claims()))
    assert len(jwks_server.requests) == 2
    clock.now = 332
    await verifier.verify(rsa_key.sign(claims()))
    assert len(jwks_server.requests) == 3


@pytest.mark.parametrize("failure", ["status", "redirect", "too_large", "not_json_keys"])
async def test_no_keys_at_start_means_unavailable(jwks_server: JwksServer, rsa_key: SigningKey, failure: str) -> None:
    if failure == "status":
        jwks_server.status = 503
    elif failure == "redirect":
        jwks_server.redirect_to = jwks_server.url  # even to itself: redirects are never followed
    elif failure == "too_large":
        jwks_server.padding = 300 * 1024
    else:
        jwks_server.document = {"keys": "none"}
    with pytest.raises(KeysUnavailableError):
        await url_verifier(jwks_server, Clock()).verify(rsa_key.sign(claims()))


async def test_unreachable_url_means_unavailable(rsa_key: SigningKey) -> None:
    source = CachedKeySource(url_loader("http://127.0.0.1:9/jwks"), cache_seconds=300, refresh_min_seconds=30)
    with pytest.raises(KeySetUnavailable):
        await source.current()


# --- choosing the key source from settings ---------------------------------------------


def test_settings_choose_the_key_source(tmp_path: Path) -> None:
    jwks_file = tmp_path / "jwks.json"
    assert isinstance(key_source_from_settings(settings(jwt_jwks_file=jwks_file)), CachedKeySource)
    assert isinstance(key_source_from_settings(settings(jwt_jwks_url="https://idp.example/jwks")), CachedKeySource)
    dev = settings(serve_dev_jwks=True, dev_key_file=tmp_path / "dev.pem")
    assert isinstance(key_source_from_settings(dev), StaticKeySource)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"jwt_jwks_file": "jwks.json", "jwt_jwks_url": "https://idp.example/jwks"},
        {"jwt_jwks_url": "http://idp.example/jwks"},
    ],
)
def test_settings_that_cannot_check_tokens_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(SecurityConfigurationError):
        key_source_from_settings(settings(**overrides))


def test_auth_off_has_no_verifier_and_jwt_needs_issuer_and_audience(tmp_path: Path) -> None:
    assert verifier_from_settings(settings(auth="off")) is None
    with pytest.raises(SecurityConfigurationError):
        verifier_from_settings(settings(jwt_issuer="", jwt_jwks_url="https://idp.example/jwks"))
    dev = settings(jwt_issuer="", jwt_audience="", serve_dev_jwks=True, dev_key_file=tmp_path / "dev.pem")
    assert verifier_from_settings(dev) is not None
