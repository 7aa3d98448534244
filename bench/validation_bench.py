"""Profile validation speed, warm, on one core: `python -m bench.validation_bench`.

Measures, in one process and one run: compiling the guide (load time), the memory the compiled
guide holds, and validations per second of a typical relationship observation against its
profile. "After" is what a write runs now: the R4 core pass (structure, strict JSON, formats,
every R4 constraint, bindings, extensions) and the profile. "Before" is the pipeline it replaced,
rebuilt from its parts: the fhir.resources R4B model pass that decided structure, then the
profile's rules alone (the old pipeline also ran 15 base invariants and an extension walk, so
the real old figure was lower still).
"""

import argparse
import gc
import json
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from service.conformance import guide as guide_module
from service.conformance.guide import compiled_guide
from service.conformance.validation.elements import Context

ROOT = Path(__file__).resolve().parent.parent
OBSERVATION = ROOT / "profiles" / "examples" / "Observation-obs-ava-grace-new-birth-visit.json"


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _rate(work: Any, seconds: float) -> tuple[float, float]:
    """Calls per second of wall-clock time and per second of this process's CPU time, each the
    best of three timed runs after a warm-up. On a shared, loaded machine the wall-clock figure
    counts the time spent waiting for a core; the CPU-time figure is what one free core does."""
    for _ in range(200):
        work()
    best_wall = best_cpu = 0.0
    for _ in range(3):
        calls, started, cpu_started = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds / 3:
            for _ in range(50):
                work()
            calls += 50
        best_wall = max(best_wall, calls / (time.perf_counter() - started))
        best_cpu = max(best_cpu, calls / max(time.process_time() - cpu_started, 1e-9))
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.validation_bench")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per figure")
    args = parser.parse_args(argv)
    _pin_to_one_core()

    guide_module._compiled.clear()
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    validator = compiled_guide(ROOT / "profiles", ROOT / "mappings").validator
    load_seconds = time.perf_counter() - started
    held_mib = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()

    observation = json.loads(OBSERVATION.read_text())
    profile = observation["meta"]["profile"][0]
    assert not [i for i in validator.validate(observation) if i.severity == "error"]
    model = get_fhir_model_class("Observation")

    def before() -> None:
        model.model_validate(observation)
        validator.profile_issues(observation, [profile])

    def core_only() -> None:
        validator.core.validate(observation, Context(observation))

    rows = [
        ("before: fhir.resources structure pass + profile rules", _rate(before, args.seconds)),
        (
            "after: R4 core pass + profile (what a write runs)",
            _rate(lambda: validator.assess(observation, [profile]), args.seconds),
        ),
        ("after: R4 core pass only (base type, no profile)", _rate(core_only, args.seconds)),
        ("profile rules only", _rate(lambda: validator.profile_issues(observation, [profile]), args.seconds)),
    ]
    print(f"guide compile (load) time: {load_seconds:.2f} s; memory held by the compiled guide: {held_mib:.1f} MiB")
    print(f"resource: {OBSERVATION.name} ({OBSERVATION.stat().st_size} bytes), one core, warm")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| validation | per second (wall clock) | per second of CPU time |\n|---|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {wall:,.0f} | {cpu:,.0f} |")
    print(
        f"after / before: {rows[1][1][0] / rows[0][1][0]:.2f}x wall clock, {rows[1][1][1] / rows[0][1][1]:.2f}x CPU time"
    )


if __name__ == "__main__":
    main()
