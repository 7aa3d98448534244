"""Bearer token verification: from a signed JWT access token to the `Caller` it speaks for.

Only RS256 and ES256 are accepted, and each only with a key of its own type: `alg: none`,
every HMAC algorithm (so no "HS256 signed with the RSA public key" confusion), and any token
whose `alg` differs from its key's are refused before a signature is looked at. The key is
chosen by `kid` from the configured key source only; keys or key URLs carried in the token
header (`jwk`, `jku`, `x5u`, `x5c`) are never used. The token must carry `exp`, `iss`, `aud`
and `sub`; `exp`, `nbf` and `iat` are checked with `jwt_leeway_seconds` of clock skew.

AuthenticationError.reason is a fixed sentence naming what failed, never a value taken from
the token, so it may go to the client (WWW-Authenticate / OperationOutcome) and to the log.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from service.config import Settings
from service.errors import DyadError
from service.security.dev_keys import DevSigningKey, dev_issuer_and_audience
from service.security.jwks import (
    CachedKeySource,
    JwksLoader,
    KeySetUnavailable,
    KeySource,
    SigningAlgorithm,
    StaticKeySource,
    VerificationKey,
    check_jwks_url,
    file_loader,
    url_loader,
)
from service.security.scopes import ScopeSet
from service.store.ods import ODS_SYSTEM

# RFC 9068 access tokens say `at+jwt`; many issuers still say `JWT` or nothing.
ACCEPTED_TYPES: Final[frozenset[str]] = frozenset({"jwt", "at+jwt", "application/at+jwt"})
# Far above any real access token; stops us parsing megabytes of attacker-supplied base64.
MAX_TOKEN_LENGTH: Final[int] = 16 * 1024
MAX_SUBJECT_LENGTH: Final[int] = 256

ODS_ORGANIZATION_SYSTEM: Final[str] = ODS_SYSTEM
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class AuthenticationError(Exception):
    """The token does not authenticate its bearer. `reason` is safe to show and to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailableError(AuthenticationError, DyadError):
    """The signing keys could not be loaded: the server's fault, so answer 503 rather than 401."""

    status, code = 503, "transient"


class SecurityConfigurationError(Exception):
    """The security settings do not describe a server that can check tokens."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling and what their token lets them do.

    organization is `Organization/<id>` or None (see normalize_organization). purpose_of_use is
    a code, or `system|code` when the claim was a Coding. token_id is the `jti`, for the audit
    trail only. authenticated is False only for `local_unauthenticated()`.
    """

    subject: str | None
    client_id: str | None
    organization: str | None
    scopes: ScopeSet
    purpose_of_use: str | None
    issuer: str | None
    token_id: str | None
    authenticated: bool

    @classmethod
    def local_unauthenticated(cls) -> "Caller":
        """The caller every request becomes when DYAD_AUTH=off: all scopes, no organisation."""
        return cls(
            subject=None,
            client_id=None,
            organization=None,
            scopes=ScopeSet.everything(),
            purpose_of_use=None,
            issuer=None,
            token_id=None,
            authenticated=False,
        )


class TokenVerifier:
    def __init__(self, settings: Settings, key_source: KeySource) -> None:
        if not settings.jwt_issuer or not settings.jwt_audience:
            # Without both, a token minted by the same issuer for another service would pass here.
            raise SecurityConfigurationError("DYAD_JWT_ISSUER and DYAD_JWT_AUDIENCE must be set when DYAD_AUTH=jwt")
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._org_claim = settings.jwt_org_claim
        self._purpose_claim = settings.jwt_purpose_claim
        self._keys = key_source

    async def verify(self, token: str) -> Caller:
        """The caller a bearer token speaks for; raises AuthenticationError on any doubt."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("token is missing or too long")
        algorithm, kid = _read_header(token)
        key = await self._find_key(algorithm, kid)
        claims = self._decode(token, key)
        return self._caller(claims)

    async def _find_key(self, algorithm: SigningAlgorithm, kid: str | None) -> VerificationKey:
        try:
            keys = await self._keys.current()
            if kid is None:
                key = keys.only_key_for(algorithm)
            else:
                key = keys.by_kid(kid)
                if key is None:
                    key = (await self._keys.refresh_for_unknown_kid()).by_kid(kid)
        except KeySetUnavailable:
            raise KeysUnavailableError("token signing keys are unavailable") from None
        if key is None:
            raise AuthenticationError("token is signed with an unknown key")
        if key.algorithm != algorithm:
            raise AuthenticationError("token algorithm does not match its key")
        return key

    def _decode(self, token: str, key: VerificationKey) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                # Pinned to the key's own algorithm, never taken from the token.
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"], "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("token audience is not this server") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("token issuer is not trusted") from None
        except jwt.MissingRequiredClaimError as missing:
            raise AuthenticationError(f"token lacks the {missing.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature is invalid") from None
        except jwt.InvalidIssuedAtError:
            raise AuthenticationError("token iat claim is invalid") from None
        except (jwt.PyJWTError, ValueError, TypeError, ArithmeticError, RecursionError):
            raise AuthenticationError("token is malformed") from None
        _check_times(claims)
        return claims

    def _caller(self, claims: Mapping[str, Any]) -> Caller:
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise AuthenticationError("token sub claim is invalid")
        try:
            organization = normalize_organization(claims.get(self._org_claim))
        except ValueError:
            raise AuthenticationError("token organization claim is invalid") from None
        try:
            purpose = _purpose_of_use(claims.get(self._purpose_claim))
        except ValueError:
            raise AuthenticationError("token purpose of use claim is invalid") from None
        return Caller(
            subject=subject,
            client_id=_first_string(claims, "client_id", "azp"),
            organization=organization,
            scopes=_scopes(claims),
            purpose_of_use=purpose,
            issuer=claims["iss"],
            token_id=_first_string(claims, "jti"),
            authenticated=True,
        )


def _read_header(token: str) -> tuple[SigningAlgorithm, str | None]:
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise AuthenticationError("token is malformed") from None
    algorithm = header.get("alg")
    if algorithm == "RS256" or algorithm == "ES256":
        accepted: SigningAlgorithm = algorithm
    else:
        raise AuthenticationError("token algorithm is not accepted")
    # We understand no critical extension, and an unencoded payload (b64=false) is not a JWT.
    if "crit" in header or "b64" in header:
        raise AuthenticationError("token header is not accepted")
    token_type = header.get("typ")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() not in ACCEPTED_TYPES):
        raise AuthenticationError("token type is not accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AuthenticationError("token is malformed")
    return accepted, kid


def _check_times(claims: Mapping[str, Any]) -> None:
    # PyJWT has checked each time against the clock, but it also takes "1700000000" or true
    # for a time; RFC 7519 says NumericDate, and a token issued after it expires is broken.
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_numeric_date(claims[name]):
            raise AuthenticationError(f"token {name} claim is invalid")
    if "iat" in claims and claims["iat"] > claims["exp"]:
        raise AuthenticationError("token iat claim is invalid")


def _is_numeric_date(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _scopes(claims: Mapping[str, Any]) -> ScopeSet:
    # `scope` is the OAuth space-separated string; some issuers send a `scp` list instead.
    scope = claims.get("scope")
    if isinstance(scope, str):
        return ScopeSet.parse(scope)
    scp = claims.get("scp")
    if isinstance(scp, str):
        return ScopeSet.parse(scp)
    if isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        return ScopeSet.parse(scp)
    return ScopeSet.empty()


def _first_string(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def normalize_organization(value: object) -> str | None:
    """The calling organisation as `Organization/<id>`, or None when the claim is absent.

    Accepted forms, all giving `Organization/RX1`:
      "Organization/RX1"                                   a relative reference
      "RX1"                                                an ODS code or bare logical id
      {"reference": "Organization/RX1"}                    a FHIR Reference
      {"system": ODS_ORGANIZATION_SYSTEM, "value": "RX1"}  an ODS Identifier
    An ODS code is the logical id of Dyad's Organization for it: the store gives an Organization
    carrying an ODS code that code as its id (service.store.ods), so a token's organisation, the
    Organization a mapped record names and a routing rule's team are one resource. Case is kept
    as given (ODS codes are upper case; a token saying `rx1` names no NHS body's Organization). Absolute URLs, versioned references, other resource types, other
    identifier systems and lists raise ValueError: guessing would risk naming the wrong body.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = _organization_from_object(value)
    if not isinstance(value, str):
        raise ValueError("organization claim must be a string or an object")
    logical_id = value.removeprefix("Organization/")
    if not _FHIR_ID.match(logical_id):
        raise ValueError("organization claim is not an Organization id")
    return f"Organization/{logical_id}"


def _organization_from_object(value: Mapping[str, object]) -> str:
    reference = value.get("reference")
    if isinstance(reference, str) and reference.startswith("Organization/"):
        return reference
    identifier = value.get("value")
    if value.get("system") == ODS_ORGANIZATION_SYSTEM and isinstance(identifier, str):
        return identifier
    raise ValueError("organization claim object is neither an Organization reference nor an ODS identifier")


def _purpose_of_use(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        code, system = value.get("code"), value.get("system")
        if isinstance(code, str) and code:
            return f"{system}|{code}" if isinstance(system, str) and system else code
    raise ValueError("purpose of use must be a code or a Coding")


def key_source_from_settings(settings: Settings) -> KeySource:
    """The key source DYAD_AUTH=jwt checks tokens against.

    A JWKS file or URL (not both) when one is set; otherwise the development key, but only if
    DYAD_SERVE_DEV_JWKS=true. With neither the server cannot check tokens, so it must not start.
    """
    if settings.jwt_jwks_file is not None and settings.jwt_jwks_url:
        raise SecurityConfigurationError("set DYAD_JWT_JWKS_FILE or DYAD_JWT_JWKS_URL, not both")
    if settings.jwt_jwks_file is not None:
        return _cached(settings, file_loader(settings.jwt_jwks_file))
    if settings.jwt_jwks_url:
        try:
            check_jwks_url(settings.jwt_jwks_url)
        except ValueError as error:
            raise SecurityConfigurationError(str(error)) from None
        return _cached(settings, url_loader(settings.jwt_jwks_url))
    if settings.serve_dev_jwks:
        return StaticKeySource(DevSigningKey.from_settings(settings).key_set())
    raise SecurityConfigurationError(
        "DYAD_AUTH=jwt needs DYAD_JWT_JWKS_FILE or DYAD_JWT_JWKS_URL (or DYAD_SERVE_DEV_JWKS=true for development)"
    )


def _cached(settings: Settings, load: JwksLoader) -> CachedKeySource:
    return CachedKeySource(
        load,
        cache_seconds=settings.jwt_jwks_cache_seconds,
        refresh_min_seconds=settings.jwt_jwks_refresh_min_seconds,
    )


def uses_dev_key(settings: Settings) -> bool:
    """Whether tokens are checked against the development key (and its JWKS should be served)."""
    return settings.serve_dev_jwks and settings.jwt_jwks_file is None and not settings.jwt_jwks_url


def expected_issuer_and_audience(settings: Settings) -> tuple[str, str]:
    """The `iss` and `aud` tokens must carry; the dev key falls back to DEV_ISSUER/DEV_AUDIENCE."""
    if uses_dev_key(settings):
        return dev_issuer_and_audience(settings)
    return settings.jwt_issuer, settings.jwt_audience


def verifier_from_settings(settings: Settings) -> TokenVerifier | None:
    """The verifier for these settings, or None when DYAD_AUTH=off. Call once at start-up."""
    if settings.auth == "off":
        return None
    issuer, audience = expected_issuer_and_audience(settings)
    effective = settings.model_copy(update={"jwt_issuer": issuer, "jwt_audience": audience})
    return TokenVerifier(effective, key_source_from_settings(settings))
