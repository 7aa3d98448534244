"""`dyad package` and the served tarball are a FHIR NPM package standard tooling can load."""

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx

from service.conformance.npm_package import build_package, tarball

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"


def test_package_has_manifest_index_definitions_and_examples() -> None:
    files = build_package(PROFILES)
    manifest = json.loads(files["package/package.json"])
    assert manifest["name"] == "dyad.fhir"
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["canonical"] == "https://w3id.org/dyad/fhir"
    index = json.loads(files["package/.index.json"])
    names = {entry["filename"] for entry in index["files"]}
    assert "StructureDefinition-dyad-relationship-observation.json" in names
    assert all(f"package/{name}" in files for name in names)
    observation = next(e for e in index["files"] if e["id"] == "dyad-relationship-observation")
    assert observation["url"] == "https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation"
    assert any(path.startswith("package/example/") for path in files)
    assert not any("invalid" in path for path in files)
    assert not any("SearchParameter-Observation-code" in path for path in files)  # base spec stays out


def test_dyad_package_command_writes_the_folder_and_tarball(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "package", "--out", str(tmp_path), "--tgz"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "package" / "package.json").is_file()
    with tarfile.open(tmp_path / "dyad.fhir-0.1.0.tgz") as archive:
        assert "package/.index.json" in archive.getnames()


async def test_server_serves_the_package_like_a_registry(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/packages/dyad.fhir")).json()
    assert listing["dist-tags"]["latest"] == "0.1.0"
    response = await client.get("/packages/dyad.fhir/0.1.0")
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.extractfile("package/package.json").read())  # type: ignore[union-attr]
    assert manifest["name"] == "dyad.fhir"
    assert (await client.get("/packages/other.pkg")).status_code == 404


async def test_the_registry_document_points_at_a_tarball_that_matches_its_checksums(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/packages/dyad.fhir")).json()
    dist = listing["versions"]["0.1.0"]["dist"]
    assert dist["tarball"].endswith("/packages/dyad.fhir/-/dyad.fhir-0.1.0.tgz")
    archive = await client.get(dist["tarball"])
    assert archive.status_code == 200
    assert hashlib.sha1(archive.content).hexdigest() == dist["shasum"]
    assert dist["integrity"] == "sha512-" + base64.b64encode(hashlib.sha512(archive.content).digest()).decode()
    assert archive.content == (await client.get("/packages/dyad.fhir/0.1.0")).content
    assert (await client.get("/packages/dyad.fhir/-/dyad.fhir-9.9.9.tgz")).status_code == 404


def test_the_tarball_holds_no_times_so_its_checksums_never_change() -> None:
    archive = tarball(build_package(PROFILES))
    assert archive[4:8] == b"\0\0\0\0"  # gzip header MTIME
    with tarfile.open(fileobj=io.BytesIO(archive)) as opened:
        assert {member.mtime for member in opened.getmembers()} == {0}
    assert archive == tarball(build_package(PROFILES))
