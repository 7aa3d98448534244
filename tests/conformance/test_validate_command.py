"""`dyad validate --profile` takes a profile's URL, id or name, and refuses one it does not know
(issue 12: an unknown short name exited 0 with a warning)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERRAL = ROOT / "profiles" / "examples" / "ServiceRequest-referral-noah-vipp.json"


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service", "validate", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_an_unknown_profile_name_fails() -> None:
    result = _validate("--profile", "dyad-referal", str(REFERRAL))
    assert result.returncode == 2
    assert "no profile 'dyad-referal'" in result.stderr and "dyad-referral" in result.stderr


def test_a_profile_short_name_is_resolved_and_applied() -> None:
    assert _validate("--profile", "dyad-referral", str(REFERRAL)).returncode == 0
    wrong_type = _validate("--profile", "dyad-care-plan", str(REFERRAL))
    assert wrong_type.returncode == 1
    assert "dyad-care-plan is for CarePlan, not ServiceRequest" in wrong_type.stdout
