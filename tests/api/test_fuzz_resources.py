"""Hypothesis-generated malformed resources and Bundles: never a 5xx, never a partial write.

Each case starts from a valid example of the guide and breaks it: values of the wrong type,
nulls, deleted or invented elements, deep nesting, odd text. A Bundle mixes good entries with
broken ones. Whatever the verdict, a refused request must leave the store exactly as it was.
"""

import copy
import json
import os
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json"))
CASES = int(os.environ.get("DYAD_FUZZ_CASES", "60"))
# Fixed examples by default so CI is repeatable; DYAD_FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("DYAD_FUZZ_RANDOM") != "1"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.just(""),
    st.just("\u0000"),
    st.just("9" * 400),
    # built anew each time: the mutations below change what they are given in place
    st.builds(lambda: {"a": {"b": {"c": [1, {"d": None}]}}}),
)


@st.composite
def broken_resource(draw: st.DrawFn) -> dict[str, Any]:
    resource = copy.deepcopy(json.loads(draw(st.sampled_from(EXAMPLES)).read_text()))
    resource.pop("id", None)
    for _ in range(draw(st.integers(1, 4))):
        _mutate(resource, draw)
    return resource


def _mutate(node: Any, draw: st.DrawFn) -> None:
    """Walk to a random dict inside the resource and replace, delete or add one key."""
    while True:
        children = [v for v in node.values() if isinstance(v, dict)] + [
            item for v in node.values() if isinstance(v, list) for item in v if isinstance(item, dict)
        ]
        if not children or draw(st.booleans()):
            break
        node = draw(st.sampled_from(children))
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    keys = [k for k in node if k != "resourceType"] or ["extra"]
    key = draw(st.sampled_from(keys)) if action != "add" else draw(st.text(min_size=1, max_size=12))
    if action == "delete":
        node.pop(key, None)
    else:
        node[key] = draw(_scalars | st.lists(_scalars, max_size=3))


async def _totals(client: httpx.AsyncClient) -> dict[str, int]:
    totals = {}
    for res_type in (
        "Patient",
        "RelatedPerson",
        "Observation",
        "ServiceRequest",
        "CarePlan",
        "Goal",
        "Task",
        "Provenance",
    ):
        totals[res_type] = (await client.get(f"/fhir/{res_type}", params={"_summary": "count"})).json()["total"]
    return totals


async def test_malformed_resources_never_cause_5xx_or_partial_writes(client: httpx.AsyncClient) -> None:
    outcomes: dict[int, int] = {}

    @given(resource=broken_resource())
    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
    )
    def check(resource: dict[str, Any]) -> None:
        outcomes.setdefault(-1, 0)
        outcomes[-1] += 1
        pending.append(resource)

    pending: list[dict[str, Any]] = []
    check()
    for resource in pending:
        before = await _totals(client)
        response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
        outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.text, resource)
        if response.status_code >= 400:
            assert await _totals(client) == before, resource
            assert response.json()["resourceType"] == "OperationOutcome"
    print(f"malformed resources: {len(pending)} cases, statuses {sorted(outcomes.items())}")
    assert len(pending) >= CASES // 2


async def test_bundles_with_broken_entries_are_refused_whole(client: httpx.AsyncClient) -> None:
    bundles: list[dict[str, Any]] = []

    @given(
        broken=st.lists(broken_resource(), min_size=1, max_size=3),
        good=st.integers(0, 3),
        kind=st.sampled_from(["transaction", "batch"]),
    )
    @settings(
        max_examples=CASES // 2,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
    )
    def collect(broken: list[dict[str, Any]], good: int, kind: str) -> None:
        valid = [json.loads(EXAMPLES[i].read_text()) for i in range(good)]
        for resource in valid:
            resource.pop("id", None)
        entries = [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in valid + broken]
        bundles.append({"resourceType": "Bundle", "type": kind, "entry": entries})

    collect()
    for bundle in bundles:
        before = await _totals(client)
        response = await client.post("/fhir", json=bundle, headers=FHIR_JSON)
        assert response.status_code < 500, response.text
        if bundle["type"] == "transaction" and response.status_code >= 400:
            assert await _totals(client) == before
        if bundle["type"] == "transaction" and response.status_code == 200:
            created = [e for e in response.json()["entry"] if e["response"]["status"].startswith("201")]
            assert len(created) == len(bundle["entry"])
    print(f"malformed bundles: {len(bundles)} cases")
    assert len(bundles) >= CASES // 4
