"""Every Bundle that `dyad map` makes from the mapping samples passes `dyad validate`, its
Dyad extensions inside the entries included (issue 12: they were rejected there)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(ROOT.glob("mappings/*/samples/*.json"))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_mapped_bundle_passes_dyad_validate(sample: Path, tmp_path: Path) -> None:
    system = sample.parent.parent.name
    mapped = subprocess.run(
        [sys.executable, "-m", "service", "map", "--from", system, str(sample)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert mapped.returncode == 0, mapped.stderr
    bundle = tmp_path / "bundle.json"
    bundle.write_text(mapped.stdout)
    checked = subprocess.run(
        [sys.executable, "-m", "service", "validate", str(bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout
    assert "0 with errors" in checked.stdout
