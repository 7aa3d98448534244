"""A local development signing key, so that `dyad token` can mint tokens a dev server accepts.

The key is created once (EC P-256 for ES256, or RSA 2048 for RS256) and kept as a PKCS#8 PEM
file readable only by its owner (0600); a key file that others can read is refused rather than
used. Its key id is the RFC 7638 thumbprint of the public key, so the same file always gives
the same `kid`. A server trusts this key only when `DYAD_SERVE_DEV_JWKS=true` and no other
JWKS is configured.
"""

import base64
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.config import Settings
from service.security.jwks import KeySet, SigningAlgorithm, VerificationKey, parse_jwks

# Used for `iss` and `aud` when the server trusts the dev key and neither is configured.
DEV_ISSUER = "urn:dyad:dev-issuer"
DEV_AUDIENCE = "urn:dyad:dev-audience"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def dev_issuer_and_audience(settings: Settings) -> tuple[str, str]:
    """The `iss` and `aud` of dev tokens: the configured ones, else DEV_ISSUER and DEV_AUDIENCE."""
    return settings.jwt_issuer or DEV_ISSUER, settings.jwt_audience or DEV_AUDIENCE


class DevKeyError(Exception):
    """The development key file exists but cannot be used."""


@dataclass(frozen=True, slots=True)
class DevSigningKey:
    private_key: PrivateKey
    algorithm: SigningAlgorithm
    kid: str

    @classmethod
    def load_or_create(cls, path: Path, algorithm: SigningAlgorithm = "ES256") -> "DevSigningKey":
        """Load the key at `path`, creating it first if absent. `algorithm` matters only on creation."""
        if not path.exists():
            _create(path, algorithm)
        return cls._load(path)

    @classmethod
    def from_settings(cls, settings: Settings) -> "DevSigningKey":
        """The key at DYAD_DEV_KEY_FILE, shared by `dyad token` and a server with DYAD_SERVE_DEV_JWKS."""
        return cls.load_or_create(settings.dev_key_file, settings.dev_key_algorithm)

    @classmethod
    def _load(cls, path: Path) -> "DevSigningKey":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DevKeyError(f"{path} is readable by others; chmod 600 it or delete it to make a new one")
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        match private_key:
            case rsa.RSAPrivateKey():
                algorithm: SigningAlgorithm = "RS256"
            case ec.EllipticCurvePrivateKey() if isinstance(private_key.curve, ec.SECP256R1):
                algorithm = "ES256"
            case _:
                raise DevKeyError(f"{path} holds neither an RSA nor an EC P-256 key")
        return cls(private_key, algorithm, _thumbprint(_public_jwk(private_key)))

    def jwks(self) -> dict[str, Any]:
        """The public JWKS a server publishes for this key (no private parameters)."""
        entry = {**_public_jwk(self.private_key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}
        return {"keys": [entry]}

    def key_set(self) -> KeySet:
        return parse_jwks(self.jwks())

    def verification_key(self) -> VerificationKey:
        return self.key_set().keys[0]

    def mint(
        self,
        *,
        subject: str,
        scopes: str | Iterable[str],
        organization: str | None = None,
        audience: str = DEV_AUDIENCE,
        issuer: str = DEV_ISSUER,
        lifetime: int = 3600,
        extra_claims: Mapping[str, Any] | None = None,
        org_claim: str = "organization",
        now: float | None = None,
    ) -> str:
        """A signed access token; `extra_claims` are added last and may override the standard ones."""
        issued = int(time.time() if now is None else now)
        scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": str(uuid.uuid4()),
            "client_id": subject,
            "scope": scope,
        }
        if organization is not None:
            claims[org_claim] = organization
        claims.update(extra_claims or {})
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "at+jwt"}
        )


def _create(path: Path, algorithm: SigningAlgorithm) -> None:
    private_key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else rsa.generate_private_key(65537, 2048)
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Write a private temporary file, then link it into place: the key is never visible
    # half-written or with loose permissions, and if two processes race the first one wins.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _public_jwk(private_key: PrivateKey) -> dict[str, str]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "e": _b64_uint(numbers.e), "n": _b64_uint(numbers.n)}
    point = public.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64_uint(point.x, 32), "y": _b64_uint(point.y, 32)}


def _thumbprint(public_jwk: Mapping[str, str]) -> str:
    # RFC 7638: the required members only, sorted, no whitespace.
    required = ("e", "kty", "n") if public_jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = orjson.dumps({name: public_jwk[name] for name in required}, option=orjson.OPT_SORT_KEYS)
    return _b64(hashlib.sha256(canonical).digest())


def _b64_uint(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64(value.to_bytes(size, "big"))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
