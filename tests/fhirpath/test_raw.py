"""Paths compiled to raw JSON walks must answer exactly what the typed evaluation answers."""

import json
from pathlib import Path
from typing import Any

import pytest

from service import fhirpath
from service.conformance.guide import compiled_guide
from service.fhirpath import plain
from service.fhirpath.values import Node
from tests.search.samples import ALL

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [json.loads(p.read_text()) for p in sorted((ROOT / "profiles" / "examples").glob("*.json"))]


def _typed(compiled: fhirpath.Compiled, resource: dict[str, Any]) -> list[Any]:
    return [plain(i) for i in compiled.nodes(resource) if type(i) is not Node or i.value is not None]


def _search_expressions() -> list[tuple[str, str]]:
    registry = compiled_guide(ROOT / "profiles").registry
    return sorted(
        {(t, p.expression) for t in registry.types() for p in registry.params_for(t).values() if p.expression}
    )


@pytest.mark.parametrize("resource", EXAMPLES + ALL, ids=lambda r: f"{r['resourceType']}-{r.get('id')}")
def test_raw_walks_agree_with_the_typed_evaluation(resource: dict[str, Any]) -> None:
    walked = 0
    for res_type, expression in _search_expressions():
        if res_type != resource["resourceType"]:
            continue
        compiled = fhirpath.compile(expression)
        assert compiled.evaluate(resource) == _typed(compiled, resource), expression
        walked += compiled._raw is not None
    assert walked >= 3


def test_most_search_expressions_walk_raw() -> None:
    expressions = _search_expressions()
    raw = [e for _, e in expressions if fhirpath.compile(e)._raw is not None]
    assert len(raw) > 0.9 * len(expressions)


@pytest.mark.parametrize(
    ("expression", "resource", "expected"),
    [
        (
            "Observation.subject.where(resolve() is Patient)",
            {
                "resourceType": "Observation",
                "subject": {"reference": "#p"},
                "contained": [{"resourceType": "Group", "id": "p"}],
            },
            [],
        ),
        (
            "Patient.telecom.where(system='email')",
            {"resourceType": "Patient", "telecom": [{"system": "email", "value": "a"}, {"system": "phone"}]},
            [{"system": "email", "value": "a"}],
        ),
        ("(Observation.value as Quantity)", {"resourceType": "Observation", "valueString": "x"}, []),
        (
            "Patient.name.given",
            {"resourceType": "Patient", "name": [{"given": ["a", None, "b"], "_given": [None, {"id": "x"}, None]}]},
            ["a", "b"],
        ),
        ("Observation.code", {"resourceType": "Patient", "code": {"text": "x"}}, []),
    ],
)
def test_raw_and_typed_agree_on_edge_cases(expression: str, resource: dict[str, Any], expected: list[Any]) -> None:
    compiled = fhirpath.compile(expression)
    assert compiled._raw is not None
    assert compiled.evaluate(resource) == expected == _typed(compiled, resource)


def _key_chains(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    chains = [prefix] if prefix else []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            for key, child in item.items():
                if len(prefix) < 3 and key.isidentifier():
                    chains.extend(_key_chains(child, (*prefix, key)))
    return sorted(set(chains))


RECORDS = [json.loads(p.read_text()) for p in sorted((ROOT / "mappings").glob("*/samples/*.json"))]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: str(r.get("RecordID")))
def test_untyped_walks_agree_with_the_typed_evaluation(record: dict[str, Any]) -> None:
    """The mapping data sets' records (capitalised field names, no resourceType)."""
    walked = 0
    for chain in _key_chains(record):
        for expression, variables in ((".".join(chain), None), ("%record." + ".".join(chain), {"record": record})):
            compiled = fhirpath.compile(expression)
            expected = [
                plain(i) for i in compiled.nodes(record, variables) if type(i) is not Node or i.value is not None
            ]
            assert compiled.evaluate(record, variables) == expected, expression
            walked += compiled._untyped is not None and compiled._untyped(record, variables) is not None
    assert walked > 10
