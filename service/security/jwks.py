"""Public keys that may sign bearer tokens, read from a JWKS file or fetched from a JWKS URL.

Only two kinds of key are kept: RSA (for RS256, at least 2048 bits) and EC on P-256 (for
ES256). Every other key in a JWKS (symmetric `oct` keys, other curves, encryption keys, keys
that declare another `alg`) is skipped, so no token can ever be checked with it. Private
parameters in a JWKS are ignored: only the public part of each key is built.

Keys are cached for `jwt_jwks_cache_seconds`. A token naming a key id we do not hold forces
one reload (the issuer may have rotated keys), but at most once every
`jwt_jwks_refresh_min_seconds`, so a stream of tokens with made-up key ids cannot make us
fetch the issuer's JWKS on every request.
"""

import asyncio
import base64
import binascii
import ipaddress
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SigningAlgorithm = Literal["RS256", "ES256"]
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 256 * 1024
FETCH_TIMEOUT_SECONDS = 5.0

log = logging.getLogger("dyad.security.jwks")


class KeySetUnavailable(Exception):
    """No usable key set could be loaded; callers should answer 503, not 401."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    algorithm: SigningAlgorithm
    public_key: PublicKey


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[VerificationKey, ...]

    def by_kid(self, kid: str) -> VerificationKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def only_key_for(self, algorithm: SigningAlgorithm) -> VerificationKey | None:
        """The key for a token without `kid`: only when exactly one key could have signed it."""
        candidates = [key for key in self.keys if key.algorithm == algorithm]
        return candidates[0] if len(candidates) == 1 else None


def parse_jwks(document: object) -> KeySet:
    """Build the usable keys of a JWKS document; unusable entries are skipped, not fatal."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS is a JSON object with a 'keys' array")
    keys = tuple(key for key in (_parse_jwk(entry) for entry in document["keys"]) if key is not None)
    kids = [key.kid for key in keys if key.kid is not None]
    if len(kids) != len(set(kids)):
        # Two keys under one kid would make the choice of key depend on their order.
        raise ValueError("a JWKS must not hold two usable keys with the same kid")
    return KeySet(keys)


def _parse_jwk(entry: object) -> VerificationKey | None:
    if not isinstance(entry, Mapping):
        return None
    if entry.get("use", "sig") != "sig":
        return None
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    try:
        match entry.get("kty"):
            case "RSA":
                return _rsa_key(entry, kid)
            case "EC":
                return _ec_key(entry, kid)
            case _:
                return None
    except (KeyError, ValueError, TypeError, binascii.Error):
        return None


def _rsa_key(entry: Mapping[str, Any], kid: str | None) -> VerificationKey | None:
    if entry.get("alg", "RS256") != "RS256":
        return None
    public = rsa.RSAPublicNumbers(_b64_int(entry["e"]), _b64_int(entry["n"])).public_key()
    if public.key_size < MIN_RSA_BITS:
        return None
    return VerificationKey(kid, "RS256", public)


def _ec_key(entry: Mapping[str, Any], kid: str | None) -> VerificationKey | None:
    if entry.get("alg", "ES256") != "ES256" or entry.get("crv") != "P-256":
        return None
    # Building the key checks that the point lies on the curve (invalid-curve attacks).
    public = ec.EllipticCurvePublicNumbers(_b64_int(entry["x"]), _b64_int(entry["y"]), ec.SECP256R1()).public_key()
    return VerificationKey(kid, "ES256", public)


def _b64_int(value: object) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("JWK number must be a base64url string")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big")


class KeySource(ABC):
    """Where a TokenVerifier finds the key a token names."""

    @abstractmethod
    async def current(self) -> KeySet:
        """The key set to check tokens with now (loading it if it is stale)."""

    @abstractmethod
    async def refresh_for_unknown_kid(self) -> KeySet:
        """A possibly newer key set, after a token named a key we do not hold; rate-limited."""


class StaticKeySource(KeySource):
    """A fixed key set: the development key, or keys handed over by a test."""

    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    async def current(self) -> KeySet:
        return self._keys

    async def refresh_for_unknown_kid(self) -> KeySet:
        return self._keys


JwksLoader = Callable[[], Awaitable[object]]


class CachedKeySource(KeySource):
    """Keys from a loader (file read, URL fetch), cached and reloaded on a schedule."""

    def __init__(
        self,
        load: JwksLoader,
        *,
        cache_seconds: float,
        refresh_min_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._cache_seconds = cache_seconds
        self._refresh_min_seconds = refresh_min_seconds
        self._clock = clock
        self._keys: KeySet | None = None
        self._loaded_at = float("-inf")
        self._attempted_at = float("-inf")
        # One reload at a time: a burst of requests after expiry waits for one fetch, not many.
        self._lock = asyncio.Lock()

    async def current(self) -> KeySet:
        if self._keys is not None and self._clock() - self._loaded_at < self._cache_seconds:
            return self._keys
        async with self._lock:
            if self._keys is not None and self._clock() - self._loaded_at < self._cache_seconds:
                return self._keys
            # A failing issuer is retried at most every refresh_min_seconds, not on every request.
            if self._keys is not None and self._clock() - self._attempted_at < self._refresh_min_seconds:
                return self._keys
            return await self._reload()

    async def refresh_for_unknown_kid(self) -> KeySet:
        async with self._lock:
            if self._keys is not None and self._clock() - self._attempted_at < self._refresh_min_seconds:
                return self._keys
            return await self._reload()

    async def _reload(self) -> KeySet:
        self._attempted_at = self._clock()
        try:
            keys = parse_jwks(await self._load())
        except (OSError, ValueError, httpx.HTTPError) as error:
            # Keep the keys we had: an issuer outage should not lock every client out at once.
            log.warning("jwks load failed", extra={"error_type": type(error).__name__})
            if self._keys is None:
                raise KeySetUnavailable("the token signing keys could not be loaded") from None
            return self._keys
        self._keys = keys
        self._loaded_at = self._attempted_at
        return keys


def file_loader(path: Path) -> JwksLoader:
    async def load() -> object:
        raw = await asyncio.to_thread(path.read_bytes)
        if len(raw) > MAX_JWKS_BYTES:
            raise ValueError("JWKS file is too large")
        return orjson.loads(raw)

    return load


def url_loader(url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> JwksLoader:
    check_jwks_url(url)

    async def load() -> object:
        # Redirects are not followed: the configured URL is the one trusted, not wherever it points.
        async with httpx.AsyncClient(
            timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False, transport=transport
        ) as client:
            async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                response.raise_for_status()
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise ValueError("JWKS response is too large")
        return orjson.loads(bytes(body))

    return load


def check_jwks_url(url: str) -> None:
    """Keys fetched over plain HTTP could be swapped in transit; allow http only for loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ValueError("DYAD_JWT_JWKS_URL must be an https URL (http is allowed only for a loopback address)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
