"""The development key and `dyad token`: what it mints, the server's verifier accepts."""

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.config import Settings
from service.security.dev_keys import DEV_AUDIENCE, DEV_ISSUER, DevKeyError, DevSigningKey, _thumbprint
from service.security.jwks import SigningAlgorithm, StaticKeySource
from service.security.tokens import AuthenticationError, TokenVerifier, verifier_from_settings

ROOT = Path(__file__).resolve().parents[2]


def dev_settings(key_file: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth": "jwt", "serve_dev_jwks": True, "dev_key_file": key_file, **overrides}
    return Settings(**values)


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_the_key_is_created_once_private_and_stable(tmp_path: Path, algorithm: SigningAlgorithm) -> None:
    path = tmp_path / "var" / "dev.pem"
    first = DevSigningKey.load_or_create(path, algorithm)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DevSigningKey.load_or_create(path, "RS256" if algorithm == "ES256" else "ES256")
    assert (again.kid, again.algorithm) == (first.kid, algorithm)
    assert [name for name in os.listdir(path.parent)] == ["dev.pem"]


def test_the_public_jwks_holds_no_private_part(tmp_path: Path) -> None:
    algorithms: tuple[SigningAlgorithm, ...] = ("ES256", "RS256")
    for algorithm in algorithms:
        jwks = DevSigningKey.load_or_create(tmp_path / f"{algorithm}.pem", algorithm).jwks()
        (entry,) = jwks["keys"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & entry.keys()
        assert entry["alg"] == algorithm and entry["use"] == "sig"


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dev.pem"
    DevSigningKey.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(DevKeyError):
        DevSigningKey.load_or_create(path)


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    # The example key and thumbprint of RFC 7638 §3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9"
        "1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert _thumbprint({"kty": "RSA", "e": "AQAB", "n": n}) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_minted_tokens_pass_the_dev_verifier(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path / "dev.pem")
    verifier = verifier_from_settings(settings)
    assert verifier is not None
    key = DevSigningKey.from_settings(settings)
    token = key.mint(
        subject="mw-ehr", scopes=["system/Observation.rs"], organization="RX1", extra_claims={"purpose_of_use": "TREAT"}
    )
    caller = await verifier.verify(token)
    assert (caller.subject, caller.client_id, caller.organization, caller.purpose_of_use) == (
        "mw-ehr",
        "mw-ehr",
        "Organization/RX1",
        "TREAT",
    )
    expired = key.mint(subject="mw-ehr", scopes="system/*.rs", lifetime=-120)
    with pytest.raises(AuthenticationError, match="expired"):
        await verifier.verify(expired)


async def test_dev_tokens_are_not_trusted_by_a_server_with_a_real_jwks(tmp_path: Path) -> None:
    key = DevSigningKey.load_or_create(tmp_path / "dev.pem")
    token = key.mint(
        subject="x", scopes="system/*.cruds", issuer="https://idp.example", audience="https://dyad.example"
    )
    real = Settings(auth="jwt", jwt_issuer="https://idp.example", jwt_audience="https://dyad.example")
    other_key = DevSigningKey.load_or_create(tmp_path / "idp.pem")
    verifier = TokenVerifier(real, StaticKeySource(other_key.key_set()))
    with pytest.raises(AuthenticationError, match="unknown key"):
        await verifier.verify(token)


def _dyad_token(key_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYAD_")}
    env["DYAD_DEV_KEY_FILE"] = str(key_file)
    return subprocess.run(
        [sys.executable, "-m", "service", "token", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


async def test_dyad_token_round_trips_through_the_verifier(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "dev.pem"
    result = _dyad_token(
        key_file,
        "--scope",
        "system/*.cruds",
        "--scope",
        "system/AuditEvent.rs",
        "--org",
        "Organization/hv-team",
        "--sub",
        "test-client",
        "--lifetime",
        "600",
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.count(".") == 2 and result.stderr == ""
    verifier = verifier_from_settings(dev_settings(key_file))
    assert verifier is not None
    caller = await verifier.verify(token)
    assert (caller.subject, caller.organization) == ("test-client", "Organization/hv-team")
    assert caller.scopes.allows("Observation", "d") and caller.scopes.allows("AuditEvent", "s")
    assert caller.issuer == DEV_ISSUER


async def test_dyad_token_audience_and_issuer_are_checked(tmp_path: Path) -> None:
    key_file = tmp_path / "dev.pem"
    result = _dyad_token(
        key_file, "--scope", "system/*.rs", "--sub", "c", "--aud", "https://dyad.example", "--iss", "https://i.example"
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    default = verifier_from_settings(dev_settings(key_file))
    assert default is not None
    with pytest.raises(AuthenticationError, match="issuer|audience"):
        await default.verify(token)
    configured = verifier_from_settings(
        dev_settings(key_file, jwt_audience="https://dyad.example", jwt_issuer="https://i.example")
    )
    assert configured is not None
    assert (await configured.verify(token)).subject == "c"


def test_dyad_token_needs_a_scope_and_a_subject(tmp_path: Path) -> None:
    result = _dyad_token(tmp_path / "dev.pem", "--sub", "c")
    assert result.returncode == 2 and "--scope" in result.stderr
    assert DEV_AUDIENCE.startswith("urn:dyad:")
