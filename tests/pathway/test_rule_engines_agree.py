"""Every routing rule and outcome expression runs on service.fhirpath; fhirpathpy, an
independent implementation, is the reference its verdicts are checked against."""

import json
from pathlib import Path

import fhirpathpy
import pytest
from fhirpathpy.models import models

from service.pathway.expressions import evaluate, template_evaluate

ROOT = Path(__file__).resolve().parents[2]
BOOK = json.loads((ROOT / "service" / "pathway" / "rules" / "routing.json").read_text())
RULES = BOOK["rules"]
OUTCOME_EXPRESSIONS = [
    (r["id"], r["on"], key, r[key]) for r in RULES for key in ("referrals", "newestBy", "occurrence") if key in r
]
EXAMPLES = [json.loads(p.read_text()) for p in sorted((ROOT / "profiles" / "examples").glob("*.json"))]


@pytest.mark.parametrize("rule", RULES, ids=[r.get("id", r["on"]) for r in RULES])
def test_rule_condition_agrees_with_fhirpathpy(rule: dict) -> None:
    for resource in (e for e in EXAMPLES if e["resourceType"] == rule["on"]):
        expected = list(fhirpathpy.compile(rule["when"], models["r4"])(resource, {}))
        assert evaluate(resource, rule["when"]) == expected, resource["id"]


@pytest.mark.parametrize(
    ("on", "expression"),
    [(on, e) for _, on, _, e in OUTCOME_EXPRESSIONS],
    ids=[f"{i}-{k}" for i, _, k, _ in OUTCOME_EXPRESSIONS],
)
def test_outcome_and_occurrence_expressions_agree_with_fhirpathpy(on: str, expression: str) -> None:
    for resource in (e for e in EXAMPLES if e["resourceType"] == on):
        expected = list(fhirpathpy.compile(expression, models["r4"])(resource, {}))
        assert evaluate(resource, expression) == expected, resource["id"]


def test_templates_get_json_values_for_computed_results() -> None:
    observation = {"resourceType": "Observation", "effectiveDateTime": "2026-03-01T10:00:00+01:00"}
    assert template_evaluate(observation, "effective + 14 days", {}) == ["2026-03-15T10:00:00+01:00"]
    assert template_evaluate(observation, "1.5 * 2", {}) == [3.0]
    assert template_evaluate(observation, "%n + 1", {"n": 2}) == [3]
