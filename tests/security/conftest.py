"""Keys, key sets and token builders for the security tests. Nothing here starts a server."""

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from service.config import Settings
from service.security.jwks import KeySet, StaticKeySource, parse_jwks
from service.security.tokens import TokenVerifier

ISSUER = "https://idp.example.nhs.uk"
AUDIENCE = "https://dyad.example.nhs.uk/fhir"


@dataclass(frozen=True)
class SigningKey:
    """A private key with the kid and alg it is published under."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    kid: str
    alg: str

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            entry = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            entry = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**entry, "kid": self.kid, "use": "sig", **overrides}

    def sign_raw(self, claims: Mapping[str, Any], **header: Any) -> str:
        """Signed without PyJWT's checks on the claims, to send what a broken issuer might."""
        headers = {"kid": self.kid, **header}
        return jwt.PyJWS().encode(orjson.dumps(dict(claims)), self.private_key, algorithm=self.alg, headers=headers)

    def sign(self, claims: Mapping[str, Any], **header: Any) -> str:
        merged = {"kid": self.kid, **header}
        headers = {name: value for name, value in merged.items() if value is not None}
        return jwt.encode(dict(claims), self.private_key, algorithm=self.alg, headers=headers)


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey(rsa.generate_private_key(65537, 2048), "rsa-1", "RS256")


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()), "ec-1", "ES256")


@pytest.fixture(scope="session")
def stranger_key() -> SigningKey:
    """A key nobody published."""
    return SigningKey(rsa.generate_private_key(65537, 2048), "stranger", "RS256")


def jwks_of(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def key_set_of(*keys: SigningKey) -> KeySet:
    return parse_jwks(jwks_of(*keys))


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth": "jwt", "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_leeway_seconds": 30}
    return Settings(**{**values, **overrides})


@pytest.fixture
def verifier(rsa_key: SigningKey, ec_key: SigningKey) -> TokenVerifier:
    return TokenVerifier(settings(), StaticKeySource(key_set_of(rsa_key, ec_key)))


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims of a good token; pass name=None to leave a claim out."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "hv-app",
        "client_id": "hv-app-client",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "token-1",
        "scope": "system/Observation.crus system/ServiceRequest.rs",
        "organization": "Organization/hv-team",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(value: Mapping[str, Any]) -> str:
    return b64url(orjson.dumps(value))


def hand_made(header: Mapping[str, Any], payload: Mapping[str, Any], signature: bytes = b"") -> str:
    return f"{segment(header)}.{segment(payload)}.{b64url(signature)}"


def hmac_signed(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"
