"""Hostile tests of TokenVerifier: every way a bearer token can be wrong is refused."""

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from service.security.jwks import CachedKeySource, KeySet, KeySource, StaticKeySource
from service.security.tokens import (
    AuthenticationError,
    Caller,
    KeysUnavailableError,
    SecurityConfigurationError,
    TokenVerifier,
    normalize_organization,
)
from tests.security.conftest import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    claims,
    hand_made,
    hmac_signed,
    jwks_of,
    key_set_of,
    settings,
)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        await verifier.verify(token)
    return caught.value.reason


# --- tokens that must pass -------------------------------------------------------------


async def test_a_valid_rs256_token_gives_its_caller(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    caller = await verifier.verify(rsa_key.sign(claims(purpose_of_use="TREAT")))
    assert caller == Caller(
        subject="hv-app",
        client_id="hv-app-client",
        organization="Organization/hv-team",
        scopes=caller.scopes,
        purpose_of_use="TREAT",
        issuer=ISSUER,
        token_id="token-1",
        authenticated=True,
    )
    assert caller.scopes.allows("Observation", "c")
    assert caller.scopes.allows("ServiceRequest", "s")
    assert not caller.scopes.allows("ServiceRequest", "u")


async def test_a_valid_es256_token_passes(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    caller = await verifier.verify(ec_key.sign(claims()))
    assert caller.subject == "hv-app"


async def test_audience_may_be_a_list_that_names_us(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    await verifier.verify(rsa_key.sign(claims(aud=["https://other.example", AUDIENCE])))
    reason = await refused(verifier, rsa_key.sign(claims(aud=["https://other.example", "https://third.example"])))
    assert reason == "token audience is not this server"


async def test_times_within_the_leeway_pass(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())
    await verifier.verify(rsa_key.sign(claims(exp=now - 10, iat=now - 100, nbf=now + 10)))


async def test_client_id_falls_back_to_azp_and_scopes_to_scp(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    token = rsa_key.sign(claims(client_id=None, azp="ehr-7", scope=None, scp=["system/CarePlan.rs", "user/Task.cu"]))
    caller = await verifier.verify(token)
    assert caller.client_id == "ehr-7"
    assert caller.scopes.allows("CarePlan", "r") and caller.scopes.allows("Task", "u")


async def test_garbled_scope_claims_grant_nothing(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    caller = await verifier.verify(rsa_key.sign(claims(scope=None, scp={"system/*.cruds": True})))
    assert not caller.scopes.allows("Observation", "r")


async def test_a_token_without_kid_uses_the_only_key_of_its_algorithm(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(), kid=None)
    assert (await verifier.verify(token)).subject == "hv-app"


async def test_a_token_without_kid_is_refused_when_two_keys_could_have_signed_it(
    rsa_key: SigningKey, stranger_key: SigningKey
) -> None:
    verifier = TokenVerifier(settings(), StaticKeySource(key_set_of(rsa_key, stranger_key)))
    assert await refused(verifier, rsa_key.sign(claims(), kid=None)) == "token is signed with an unknown key"


# --- tampering and forging -------------------------------------------------------------


async def test_tampered_payload_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    header, _, signature = rsa_key.sign(claims()).split(".")
    forged_payload = hand_made({}, claims(scope="system/*.cruds")).split(".")[1]
    assert await refused(verifier, f"{header}.{forged_payload}.{signature}") == "token signature is invalid"


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
async def test_tampered_signature_is_refused(
    verifier: TokenVerifier, key_name: str, request: pytest.FixtureRequest
) -> None:
    key: SigningKey = request.getfixturevalue(key_name)
    header, payload, signature = key.sign(claims()).split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert await refused(verifier, f"{header}.{payload}.{flipped}") in {
        "token signature is invalid",
        "token is malformed",
    }


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"anything"])
async def test_alg_none_is_refused(verifier: TokenVerifier, alg: str, signature: bytes) -> None:
    token = hand_made({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims(scope="system/*.cruds"), signature)
    assert await refused(verifier, token) == "token algorithm is not accepted"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_the_rsa_public_key_is_refused(
    verifier: TokenVerifier, rsa_key: SigningKey, alg: str
) -> None:
    public_pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hmac_signed({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims(scope="system/*.cruds"), public_pem)
    assert await refused(verifier, token) == "token algorithm is not accepted"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES384", "ES512", "EdDSA", "", None])
async def test_algorithms_other_than_rs256_and_es256_are_refused(verifier: TokenVerifier, alg: str | None) -> None:
    token = hand_made({"alg": alg, "kid": "rsa-1"}, claims(), b"sig")
    assert await refused(verifier, token) == "token algorithm is not accepted"


async def test_rsa_key_claiming_es256_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    header_says_es256 = hand_made({"alg": "ES256", "kid": rsa_key.kid}, claims(), b"x" * 64)
    assert await refused(verifier, header_says_es256) == "token algorithm does not match its key"


async def test_ec_key_claiming_rs256_is_refused(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    header_says_rs256 = hand_made({"alg": "RS256", "kid": ec_key.kid}, claims(), b"x" * 256)
    assert await refused(verifier, header_says_rs256) == "token algorithm does not match its key"


async def test_token_signed_by_an_unknown_key_is_refused(verifier: TokenVerifier, stranger_key: SigningKey) -> None:
    assert await refused(verifier, stranger_key.sign(claims())) == "token is signed with an unknown key"
    # Borrowing a published kid does not help: the signature is checked with the published key.
    assert await refused(verifier, stranger_key.sign(claims(), kid="rsa-1")) == "token signature is invalid"


async def test_keys_embedded_in_the_header_are_never_used(verifier: TokenVerifier, stranger_key: SigningKey) -> None:
    token = stranger_key.sign(claims(), kid="rsa-1", jwk=stranger_key.jwk(), jku="https://evil.example/jwks")
    assert await refused(verifier, token) == "token signature is invalid"


async def test_unknown_kid_refreshes_once_then_fails(rsa_key: SigningKey, stranger_key: SigningKey) -> None:
    loads: list[float] = []
    now = [1000.0]

    async def load() -> object:
        loads.append(now[0])
        return jwks_of(rsa_key)

    source = CachedKeySource(load, cache_seconds=300, refresh_min_seconds=30, clock=lambda: now[0])
    verifier = TokenVerifier(settings(), source)
    await verifier.verify(rsa_key.sign(claims()))
    assert len(loads) == 1
    # Right after a load no reload is allowed at all; later an unknown kid forces one.
    now[0] += 31
    assert await refused(verifier, stranger_key.sign(claims())) == "token is signed with an unknown key"
    assert len(loads) == 2
    # More unknown kids at once cannot make us fetch again before refresh_min_seconds pass.
    for _ in range(20):
        await refused(verifier, stranger_key.sign(claims(), kid="made-up"))
    assert len(loads) == 2
    now[0] += 31
    await refused(verifier, stranger_key.sign(claims(), kid="made-up-2"))
    assert len(loads) == 3


async def test_a_rotated_key_is_found_by_the_refresh(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    published = [jwks_of(rsa_key)]
    now = [1000.0]

    async def load() -> object:
        return published[0]

    source = CachedKeySource(load, cache_seconds=300, refresh_min_seconds=30, clock=lambda: now[0])
    verifier = TokenVerifier(settings(), source)
    await verifier.verify(rsa_key.sign(claims()))
    published[0] = jwks_of(rsa_key, ec_key)
    now[0] += 30
    assert (await verifier.verify(ec_key.sign(claims()))).subject == "hv-app"


# --- claims ----------------------------------------------------------------------------


async def test_expired_token_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())
    token = rsa_key.sign(claims(iat=now - 3600, nbf=now - 3600, exp=now - 31))
    assert await refused(verifier, token) == "token has expired"


async def test_not_yet_valid_token_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())
    assert await refused(verifier, rsa_key.sign(claims(nbf=now + 60, exp=now + 600))) == "token is not yet valid"


async def test_token_issued_in_the_future_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())
    assert await refused(verifier, rsa_key.sign(claims(iat=now + 120, exp=now + 600))) == "token is not yet valid"


async def test_token_issued_after_it_expires_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())
    token = rsa_key.sign(claims(iat=now + 20, nbf=None, exp=now + 10))
    assert await refused(verifier, token) == "token iat claim is invalid"


@pytest.mark.parametrize(
    ("name", "value"),
    [("exp", "4102444800"), ("nbf", "1000"), ("iat", "1000"), ("nbf", True), ("iat", True), ("exp", 1e400)],
)
async def test_times_must_be_numeric_dates(verifier: TokenVerifier, rsa_key: SigningKey, name: str, value: Any) -> None:
    # PyJWT alone would take each of these (it calls int() on them); RFC 7519 wants a number.
    reason = await refused(verifier, rsa_key.sign(claims(**{name: value})))
    assert reason in {f"token {name} claim is invalid", "token is malformed"}


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
async def test_required_claims_must_be_present(verifier: TokenVerifier, rsa_key: SigningKey, claim: str) -> None:
    assert await refused(verifier, rsa_key.sign(claims(**{claim: None}))) == f"token lacks the {claim} claim"


async def test_wrong_audience_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    reason = await refused(verifier, rsa_key.sign(claims(aud="https://another-service.example")))
    assert reason == "token audience is not this server"


@pytest.mark.parametrize("issuer", ["https://evil.example", "https://idp.example", "idp", ISSUER + "/", ["x", ISSUER]])
async def test_wrong_issuer_is_refused(verifier: TokenVerifier, rsa_key: SigningKey, issuer: object) -> None:
    # A part of the trusted issuer is not the issuer (PyJWT 2.10.0 matched substrings: CVE-2024-53861).
    reason = await refused(verifier, rsa_key.sign_raw(claims(iss=issuer)))
    assert reason in {"token issuer is not trusted", "token is malformed"}


@pytest.mark.parametrize("subject", ["", 42, "x" * 257])
async def test_subject_must_be_a_sensible_string(verifier: TokenVerifier, rsa_key: SigningKey, subject: Any) -> None:
    assert await refused(verifier, rsa_key.sign(claims(sub=subject))) in {
        "token sub claim is invalid",
        "token is malformed",
    }


@pytest.mark.parametrize(
    "organization",
    [
        "Patient/123",
        "https://elsewhere.example/fhir/Organization/abc",
        "Organization/abc/_history/2",
        ["A", "B"],
        7,
        "a b",
        {"system": "urn:other", "value": "RX1"},
        {"reference": "Practitioner/1"},
    ],
)
async def test_malformed_organization_claim_is_refused(
    verifier: TokenVerifier, rsa_key: SigningKey, organization: Any
) -> None:
    reason = await refused(verifier, rsa_key.sign(claims(organization=organization)))
    assert reason == "token organization claim is invalid"


@pytest.mark.parametrize("purpose", [42, "", {"system": "x"}, ["TREAT"]])
async def test_malformed_purpose_of_use_is_refused(verifier: TokenVerifier, rsa_key: SigningKey, purpose: Any) -> None:
    reason = await refused(verifier, rsa_key.sign(claims(purpose_of_use=purpose)))
    assert reason == "token purpose of use claim is invalid"


async def test_purpose_of_use_may_be_a_coding(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    coding = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
    caller = await verifier.verify(rsa_key.sign(claims(purpose_of_use=coding)))
    assert caller.purpose_of_use == "http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT"


async def test_organization_claim_name_is_configurable(rsa_key: SigningKey) -> None:
    verifier = TokenVerifier(settings(jwt_org_claim="org"), StaticKeySource(key_set_of(rsa_key)))
    caller = await verifier.verify(rsa_key.sign(claims(organization=None, org="RX1")))
    assert caller.organization == "Organization/RX1"


async def test_missing_organization_gives_none(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert (await verifier.verify(rsa_key.sign(claims(organization=None)))).organization is None


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ("Organization/hv-team", "Organization/hv-team"),
        ("RX1", "Organization/RX1"),
        ("rx1", "Organization/rx1"),
        ({"reference": "Organization/abc"}, "Organization/abc"),
        ({"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX1"}, "Organization/RX1"),
        (None, None),
    ],
)
def test_organization_normalisation(claim: object, expected: str | None) -> None:
    assert normalize_organization(claim) == expected


# --- headers and shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "a.b.c.d.e", "....", "eyJhbGciOiJSUzI1NiJ9..", "x" * 20_000],
)
async def test_junk_is_refused(verifier: TokenVerifier, token: str) -> None:
    await refused(verifier, token)


async def test_critical_headers_are_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    for token in (rsa_key.sign(claims(), crit=["exp"], exp=1), rsa_key.sign(claims(), crit=["b64"], b64=True)):
        assert await refused(verifier, token) in {"token header is not accepted", "token is malformed"}


@pytest.mark.parametrize("typ", ["dpop+jwt", "logout+jwt", 5])
async def test_other_token_types_are_refused(verifier: TokenVerifier, rsa_key: SigningKey, typ: Any) -> None:
    assert await refused(verifier, rsa_key.sign(claims(), typ=typ)) == "token type is not accepted"


async def test_non_string_kid_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert await refused(verifier, hand_made({"alg": "RS256", "kid": 1}, claims(), b"x")) == "token is malformed"


async def test_reasons_never_repeat_token_contents(
    verifier: TokenVerifier, stranger_key: SigningKey, rsa_key: SigningKey
) -> None:
    marker = "NHS9434765919"
    tokens = [
        rsa_key.sign(claims(sub=marker, iss=marker)),
        rsa_key.sign(claims(sub=marker, aud=marker)),
        rsa_key.sign(claims(organization=marker + "/x")),
        stranger_key.sign(claims(sub=marker), kid=marker),
        hand_made({"alg": marker}, claims(sub=marker)),
        rsa_key.sign(claims(), typ=marker),
    ]
    for token in tokens:
        reason = await refused(verifier, token)
        assert marker not in reason


# --- configuration ---------------------------------------------------------------------


class FailingSource(KeySource):
    async def current(self) -> KeySet:
        from service.security.jwks import KeySetUnavailable

        raise KeySetUnavailable("down")

    async def refresh_for_unknown_kid(self) -> KeySet:
        return await self.current()


async def test_unavailable_keys_are_a_distinct_error(rsa_key: SigningKey) -> None:
    verifier = TokenVerifier(settings(), FailingSource())
    with pytest.raises(KeysUnavailableError):
        await verifier.verify(rsa_key.sign(claims()))


@pytest.mark.parametrize("missing", ["jwt_issuer", "jwt_audience"])
def test_verifier_needs_issuer_and_audience(missing: str, rsa_key: SigningKey) -> None:
    with pytest.raises(SecurityConfigurationError):
        TokenVerifier(settings(**{missing: ""}), StaticKeySource(key_set_of(rsa_key)))


def test_local_unauthenticated_caller_has_every_scope_and_says_so() -> None:
    caller = Caller.local_unauthenticated()
    assert not caller.authenticated
    assert caller.organization is None and caller.subject is None
    for permission in "cruds":
        assert caller.scopes.allows("Observation", permission)
    assert caller.scopes.allows("AuditEvent", "r") and caller.scopes.allows("AuditEvent", "s")
    assert not caller.scopes.allows("AuditEvent", "u") and not caller.scopes.allows("AuditEvent", "d")
