"""`dyad validate`: `--profile` takes a profile's URL, id or name and refuses one it does not know
(issue 12: an unknown short name exited 0 with a warning); FHIR XML files and XML Bundles."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.conformance.fhir_xml import to_xml

ROOT = Path(__file__).resolve().parents[2]
REFERRAL = ROOT / "profiles" / "examples" / "ServiceRequest-referral-noah-vipp.json"


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "validate", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_an_unknown_profile_name_fails() -> None:
    result = _validate("--profile", "dyad-referal", str(REFERRAL))
    assert result.returncode == 2
    assert "no profile 'dyad-referal'" in result.stderr and "dyad-referral" in result.stderr


def test_a_profile_short_name_is_resolved_and_applied() -> None:
    assert _validate("--profile", "dyad-referral", str(REFERRAL)).returncode == 0
    wrong_type = _validate("--profile", "dyad-care-plan", str(REFERRAL))
    assert wrong_type.returncode == 1
    assert "dyad-care-plan is for CarePlan, not ServiceRequest" in wrong_type.stdout


def _example(name: str) -> dict:
    resource: dict = json.loads((ROOT / "profiles" / "examples" / name).read_text())
    return resource


def test_xml_files_and_xml_bundles_are_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patient = _example("Patient-infant-ava-clarke.json")
    (tmp_path / "patient.xml").write_bytes(to_xml(patient))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    (tmp_path / "bundle.xml").write_bytes(to_xml(bundle))
    assert main(["validate", str(tmp_path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["location"]).name for r in report) == ["bundle.xml", "bundle.xml#entry[0]", "patient.xml"]
    broken = patient | {"gender": "bogus"}
    (tmp_path / "patient.xml").write_bytes(to_xml(broken))
    (tmp_path / "garbage.xml").write_bytes(b"<Patient xmlns='http://hl7.org/fhir'><nonsense value='1'/></Patient>")
    assert main(["validate", str(tmp_path), "--format", "json"]) == 1
    report = {Path(r["location"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert any("gender" in (i.get("expression") or "") for i in report["patient.xml"]["issues"])
    assert "not FHIR XML" in report["garbage.xml"]["issues"][0]["message"]
