"""FHIRPath speed on the hot paths, warm, one core: `python -m bench.fhirpath_bench`.

Three engines in one run over the same expressions and resources:
- dyad: service/fhirpath, compiled once;
- fhirpathpy: fhirpathpy.compile with the R4 model, compiled once;
- old: the closure compiler Dyad used before (frozen copy in bench/baselines), falling back to
  fhirpathpy where it could not run an expression or judge a value, as the service did.
Workloads: search indexing (every search parameter expression of Observation and Patient over
the guide's examples) and invariants (every constraint of the guide's profiles plus the R4 base
invariants, at the resource root). Figures are expression evaluations per second.
"""

import argparse
import contextlib
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from bench.baselines.fhirpath_fast_old import NeedsFullEngine, Unsupported, compile_fast
from service import fhirpath
from service.conformance.guide import compiled_guide

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "profiles" / "examples"
Runner = Callable[[dict[str, Any]], Any]


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _examples(*types: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json")) if p.name.split("-")[0] in types]


def search_workload() -> list[tuple[str, dict[str, Any]]]:
    registry = compiled_guide(ROOT / "profiles").registry
    work = []
    for resource in _examples("Observation", "Patient"):
        for param in registry.params_for(resource["resourceType"]).values():
            if param.expression:
                work.append((param.expression, resource))
    return work


def invariant_workload() -> list[tuple[str, dict[str, Any]]]:
    expressions: dict[str, set[str]] = {}
    for path in sorted((ROOT / "profiles").glob("StructureDefinition-*.json")):
        definition = json.loads(path.read_text())
        for element in (definition.get("differential") or {}).get("element", []):
            if "." in element.get("path", "."):
                continue
            for constraint in element.get("constraint", []):
                if constraint.get("expression"):
                    expressions.setdefault(definition.get("type", ""), set()).add(constraint["expression"])
    base = json.loads((ROOT / "profiles" / "base" / "invariants-r4.json").read_text())["invariants"]
    for invariant in base:
        if invariant["path"] in ("DomainResource", "Resource"):
            expressions.setdefault("*", set()).add(invariant["expression"])
    work = []
    for resource in _examples("Observation", "Patient", "Goal", "ServiceRequest", "Task", "CarePlan", "RelatedPerson"):
        for expression in sorted(expressions.get(resource["resourceType"], set()) | expressions.get("*", set())):
            work.append((expression, resource))
    return work


def dyad_runner(expression: str) -> Runner:
    compiled = fhirpath.compile(expression)
    return lambda resource: compiled.evaluate(resource)


def fhirpathpy_runner(expression: str) -> Runner:
    rewritten = expression.replace("resolve() is", "reference.exists() and resolve() is")
    compiled = fhirpathpy.compile(rewritten, models["r4"])
    return lambda resource: compiled(resource, {})


def old_runner(expression: str) -> Runner:
    full = fhirpathpy_runner(expression)
    try:
        fast = compile_fast(expression)
    except Unsupported:
        return full

    def run(resource: dict[str, Any]) -> Any:
        try:
            return fast(resource, resource)
        except NeedsFullEngine:
            return full(resource)

    return run


def _guarded(runner: Runner) -> Runner:
    def run(resource: dict[str, Any]) -> Any:
        try:
            return runner(resource)
        except Exception:
            return None

    return run


def rate(work: list[tuple[Runner, dict[str, Any]]], seconds: float) -> float:
    """Evaluations per second, best of three timed runs after a warm-up (the machine is shared)."""
    for runner, resource in work:
        runner(resource)
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 3:
            for runner, resource in work:
                runner(resource)
            count += len(work)
        best = max(best, count / (time.perf_counter() - started))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fhirpath_bench")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per figure")
    args = parser.parse_args(argv)
    _pin_to_one_core()
    engines = {"dyad": dyad_runner, "fhirpathpy": fhirpathpy_runner, "old": old_runner}
    print(
        f"{'workload':<12}{'expressions':>12}{'dyad/s':>12}{'fhirpathpy/s':>14}{'old/s':>12}"
        f"{'dyad÷fhirpathpy':>17}{'dyad÷old':>10}"
    )
    for name, workload in (("search", search_workload()), ("invariants", invariant_workload())):
        rates = {}
        for engine, make in engines.items():
            compiled = {e: _guarded(make(e)) for e in {e for e, _ in workload}}
            with contextlib.redirect_stdout(io.StringIO()):  # fhirpathpy prints trace() output
                rates[engine] = rate([(compiled[e], r) for e, r in workload], args.seconds)
        print(
            f"{name:<12}{len(workload):>12}{rates['dyad']:>12,.0f}{rates['fhirpathpy']:>14,.0f}"
            f"{rates['old']:>12,.0f}{rates['dyad'] / rates['fhirpathpy']:>17.1f}{rates['dyad'] / rates['old']:>10.2f}"
        )


if __name__ == "__main__":
    main()
