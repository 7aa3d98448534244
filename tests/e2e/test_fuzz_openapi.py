"""Schemathesis against the real server's own OpenAPI document: whatever it sends, no 5xx.

Every operation in /openapi.json gets generated cases, valid and malformed (both generation
modes); the number of cases run is asserted, so the figure in the README is a floor.
"""

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.e2e.conftest import RunningServer

CASES_PER_OPERATION = int(os.environ.get("DYAD_FUZZ_CASES", "40"))


def test_no_generated_request_gets_a_server_error(server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    ran = 0
    server_errors: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=CASES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=os.environ.get("DYAD_FUZZ_RANDOM") != "1",
                suppress_health_check=list(HealthCheck),
            )
            def send(case: schemathesis.Case) -> None:
                nonlocal ran
                response = case.call(base_url=server.base, timeout=30)
                ran += 1
                if response.status_code >= 500:
                    server_errors.append(
                        f"{case.method} {case.formatted_path} query={case.query} headers={case.headers} "
                        f"body={str(case.body)[:300]}: {response.status_code}"
                    )

            try:
                send()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break in an operation without inputs
    print(f"schemathesis: {ran} requests over {len(operations)} operations")
    assert not server_errors, server_errors[:10]
    assert ran >= len(operations) * 2 * CASES_PER_OPERATION * 0.5
