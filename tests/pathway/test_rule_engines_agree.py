"""The fast FHIRPath closures and fhirpathpy give every routing rule the same verdict."""

import json
from pathlib import Path

import fhirpathpy
import pytest
from fhirpathpy.models import models

from service.pathway.expressions import _fast, evaluate

ROOT = Path(__file__).resolve().parents[2]
BOOK = json.loads((ROOT / "service" / "pathway" / "rules" / "routing.json").read_text())
RULES = BOOK["rules"]
OUTCOME_EXPRESSIONS = [
    (r["id"], r["on"], key, r[key]) for r in RULES for key in ("referrals", "newestBy", "occurrence") if key in r
]
EXAMPLES = [json.loads(p.read_text()) for p in sorted((ROOT / "profiles" / "examples").glob("*.json"))]


@pytest.mark.parametrize("rule", RULES, ids=[r.get("id", r["on"]) for r in RULES])
def test_rule_condition_is_compiled_fast_and_agrees_with_fhirpathpy(rule: dict) -> None:
    assert _fast(rule["when"]) is not None
    for resource in (e for e in EXAMPLES if e["resourceType"] == rule["on"]):
        expected = list(fhirpathpy.compile(rule["when"], models["r4"])(resource, {}))
        assert evaluate(resource, rule["when"]) == expected, resource["id"]


@pytest.mark.parametrize(("on", "expression"), [(on, e) for _, on, _, e in OUTCOME_EXPRESSIONS],
                         ids=[f"{i}-{k}" for i, _, k, _ in OUTCOME_EXPRESSIONS])
def test_outcome_and_occurrence_expressions_are_compiled_fast_and_agree_with_fhirpathpy(on: str, expression: str) -> None:
    assert _fast(expression) is not None
    for resource in (e for e in EXAMPLES if e["resourceType"] == on):
        expected = list(fhirpathpy.compile(expression, models["r4"])(resource, {}))
        assert evaluate(resource, expression) == expected, resource["id"]
