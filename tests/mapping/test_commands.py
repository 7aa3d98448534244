"""`dyad map --from SYSTEM FILE` and `dyad map --to SYSTEM FILE` on the samples."""

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

from service.mapping import commands
from tests.mapping.conftest import MAPPINGS, ROOT


def _run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="dyad")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv + ["--mappings", str(MAPPINGS)])
    out, err = io.StringIO(), io.StringIO()
    return commands.run(args, out=out, err=err), out.getvalue(), err.getvalue()


def test_from_prints_the_bundle_and_to_prints_the_record(tmp_path: Path) -> None:
    sample = MAPPINGS / "perinatal-mental-health/samples/mbu-discharge-grace.json"
    code, out, err = _run(["map", "--from", "perinatal-mental-health", str(sample)])
    assert code == 0, err
    bundle = json.loads(out)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(out)
    code, out, err = _run(["map", "--to", "perinatal-mental-health", str(bundle_file)])
    assert code == 0, err
    assert json.loads(out)["RecordID"] == "PMH-RV5-2026-000381"
    code, out, err = _run(["map", "--to", "health-visiting", str(bundle_file)])
    assert code == 0
    assert "not held" in err  # an MBU discharge has no CSDS activity type


def test_bad_record_exits_1_with_issues_on_stderr(tmp_path: Path) -> None:
    record = json.loads((MAPPINGS / "maternity/samples/postnatal-visit-concern-noah.json").read_text())
    record["MSD001MotherDemog"]["NHSNumberMother"] = "123"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record))
    code, out, err = _run(["map", "--from", "maternity", str(bad)])
    assert code == 1 and out == ""
    assert "NHSNumberMother" in err


def test_unknown_system_exits_2() -> None:
    code, _, err = _run(
        ["map", "--from", "dentistry", str(MAPPINGS / "maternity/samples/postnatal-visit-concern-noah.json")]
    )
    assert code == 2 and "dentistry" in err


def test_dyad_map_as_a_process() -> None:
    sample = MAPPINGS / "health-visiting/samples/new-birth-visit-ava.json"
    done = subprocess.run(
        [sys.executable, "-m", "service", "map", "--from", "health-visiting", str(sample)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["type"] == "transaction"
