"""`dyad fhirpath EXPRESSION FILE`, run as the installed console script."""

import json
import subprocess
import sys
from pathlib import Path

DYAD = str(Path(sys.executable).with_name("dyad"))
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "valueQuantity": {"value": 1.80, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    "effectiveDateTime": "2026-03-01T10:00:00+01:00",
}


def dyad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DYAD, "fhirpath", *args], capture_output=True, text=True, timeout=60)


def write(tmp_path: Path, content: str) -> str:
    path = tmp_path / "observation.json"
    path.write_text(content)
    return str(path)


def test_prints_the_result_as_json_and_exits_0(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '{"resourceType": "Observation", "valueQuantity": {"value": 1.80}, '
        '"effectiveDateTime": "2026-03-01T10:00:00+01:00"}',
    )
    result = dyad("value.value * 2 | (effective + 1 day) | value.exists()", file)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[", "3.60,", '"2026-03-02T10:00:00+01:00",', "true", "]"]


def test_variables_are_passed_as_json(tmp_path: Path) -> None:
    file = write(tmp_path, json.dumps(OBSERVATION))
    result = dyad("value.value > %limit", file, "--var", "limit=1.5")
    assert (result.returncode, json.loads(result.stdout)) == (0, [True])


def test_an_expression_error_exits_1(tmp_path: Path) -> None:
    file = write(tmp_path, json.dumps(OBSERVATION))
    syntax = dyad("value.(", file)
    semantic = dyad("valueQuantity.unit", file, "--strict")
    execution = dyad("(1 | 2).single()", file)
    assert [syntax.returncode, semantic.returncode, execution.returncode] == [1, 1, 1]
    assert "syntax error" in syntax.stderr and syntax.stdout == ""


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert dyad("value").returncode == 2
    assert dyad("value", str(tmp_path / "missing.json")).returncode == 2
    assert dyad("value", write(tmp_path, "<Observation/>")).returncode == 2
