"""`dyad validate`: profiles by short name, FHIR XML files and XML Bundles."""

import json
from pathlib import Path

import pytest

from service.cli import main
from service.conformance.fhir_xml import to_xml

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
OBSERVATION = "Observation-obs-ava-grace-new-birth-visit.json"


def _example(name: str) -> dict:
    resource: dict = json.loads((EXAMPLES / name).read_text())
    return resource


def test_a_profile_is_named_by_its_short_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    observation = _example(OBSERVATION)
    observation.pop("meta", None)
    observation.pop("performer")
    (tmp_path / "obs.json").write_text(json.dumps(observation))
    assert main(["validate", str(tmp_path / "obs.json")]) == 0  # claims nothing: base rules only
    capsys.readouterr()
    code = main(["validate", str(tmp_path / "obs.json"), "--profile", "dyad-relationship-observation", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert any("performer" in (i.get("expression") or "") for i in report[0]["issues"]), report


def test_an_unknown_profile_exits_2_naming_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "obs.json").write_text(json.dumps(_example(OBSERVATION)))
    assert main(["validate", str(tmp_path / "obs.json"), "--profile", "dyad-no-such-profile"]) == 2
    error = capsys.readouterr().err
    assert "dyad-no-such-profile" in error and "dyad-relationship-observation" in error


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
