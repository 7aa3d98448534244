"""The guide's own examples: the valid ones pass, each invalid one fails exactly as its manifest says."""

import json

import pytest

from service.conformance.validation import Validator
from tests.conformance.conftest import EXAMPLES, INVALID

VALID = sorted(p.name for p in EXAMPLES.glob("*.json"))
EXPECTED = json.loads((INVALID / "expected.json").read_text()) if (INVALID / "expected.json").exists() else {}


def test_the_guide_ships_examples_and_an_invalid_manifest() -> None:
    assert VALID, "profiles/examples/ has no examples"
    assert EXPECTED, "profiles/examples/invalid/expected.json is missing"
    on_disk = {p.name for p in INVALID.glob("*.json")} - {"expected.json"}
    assert on_disk == set(EXPECTED), "every invalid example has one manifest entry and vice versa"


def test_the_profiles_compile_without_problems(validator: Validator) -> None:
    assert validator.problems == ()


@pytest.mark.parametrize("name", VALID)
def test_valid_example_has_no_errors_or_warnings(validator: Validator, name: str) -> None:
    resource = json.loads((EXAMPLES / name).read_text())
    issues = [i for i in validator.validate(resource) if i.severity in ("fatal", "error", "warning")]
    assert issues == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_example_raises_exactly_its_named_issue(validator: Validator, name: str) -> None:
    expected = EXPECTED[name]
    resource = json.loads((INVALID / name).read_text())
    issues = validator.validate(resource)
    named = [
        i
        for i in issues
        if (i.severity, i.code, i.expression) == (expected["severity"], expected["code"], expected["expression"])
    ]
    assert named, f"expected {expected}, got {issues}"
    if "key" in expected:
        assert any(expected["key"] in i.message for i in named)
    others = [i for i in issues if i not in named and i.severity in ("fatal", "error", "warning")]
    assert others == [], "the invalid example should break one rule only"
