"""Mapping speed: `python -m bench.mapping_bench [--backend sqlite|postgresql|both]`.

In process, warm, on one core: source records mapped to FHIR (and back) per second over every
sample. End to end: records ingested per second over HTTP through `$ingest` into a real server,
each record a new contact (fresh RecordID and contact ids) for the sample's family, so every
record writes new resources and the identities are matched, as in production.
"""

import argparse
import concurrent.futures
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from bench.postgres import fresh_database
from bench.servers import dyad_command, free_port, running
from service.mapping.catalog import MappingCatalog

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"


def _samples() -> list[tuple[str, dict[str, Any]]]:
    return [
        (folder.name, json.loads(path.read_text()))
        for folder in sorted(MAPPINGS.iterdir())
        if (folder / "samples").is_dir()
        for path in sorted((folder / "samples").glob("*.json"))
    ]


def in_process(seconds: float) -> tuple[float, float]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    catalog = MappingCatalog.load(MAPPINGS, ROOT / "profiles")
    samples = _samples()
    bundles = [(name, catalog.system(name).to_fhir(record).bundle) for name, record in samples]

    def rate(work: Any) -> float:
        work()
        best = 0.0
        for _ in range(3):
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 3:
                work()
                done += len(samples)
            best = max(best, done / (time.perf_counter() - started))
        return best

    to_fhir = rate(lambda: [catalog.system(n).to_fhir(r) for n, r in samples])
    from_fhir = rate(lambda: [catalog.system(n).from_fhir(b) for n, b in bundles])
    return to_fhir, from_fhir


_RECORD_IDS = (
    "RecordID",
    "CareConID",
    "CareContactID",
    "CareContID",
    "AssessmentID",
    "ServiceRequestID",
    "ReferralID",
    "CarePlanID",
    "GoalID",
)


def _renamed(record: dict[str, Any], serial: int) -> dict[str, Any]:
    """The same family, a new record: the record's own ids (not people's) get new values,
    everywhere they appear, so its cross-references still hold."""
    renames: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _RECORD_IDS and isinstance(value, str):
                    renames[value] = f"B{serial}-{value}"
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: rename(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rename(item) for item in node]
        return renames.get(node, node) if isinstance(node, str) else node

    collect(record)
    return rename(record)  # type: ignore[no-any-return]


def end_to_end(url: str, records: int, workers: int) -> float:
    port = free_port()
    env = {"DYAD_DATABASE_URL": url, "DYAD_AUTH": "off", "DYAD_RATE_LIMIT_PER_MINUTE": "0", "DYAD_LOG_LEVEL": "WARNING"}
    samples = _samples()
    with running("dyad-ingest", dyad_command(port), "/readyz", port, env, Path("/tmp")) as server:
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            for name, record in samples:  # the families exist before timing starts
                client.post("/fhir/$ingest", params={"system": name}, json=record).raise_for_status()
            # A sample whose referral the pathway has closed cannot be re-sent as a new record of the
            # same referral (409, rightly); time only the samples that take new records.
            samples = [
                (name, record)
                for index, (name, record) in enumerate(samples)
                if client.post(
                    "/fhir/$ingest", params={"system": name}, json=_renamed(copy.deepcopy(record), -1 - index)
                ).status_code
                == 200
            ]

            def send(serial: int) -> int:
                name, record = samples[serial % len(samples)]
                body = _renamed(copy.deepcopy(record), serial)
                return client.post("/fhir/$ingest", params={"system": name}, json=body).status_code

            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                statuses = list(pool.map(send, range(records)))
            elapsed = time.perf_counter() - started
    failed = [s for s in statuses if s != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {records} records were not ingested: {sorted(set(failed))}")
    print(f"  ({len(samples)} of {len(_samples())} samples re-sendable as new records; timed over those)")
    return records / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mapping_bench")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both", "none"], default="both")
    parser.add_argument("--records", type=int, default=300, help="records ingested end to end per backend")
    parser.add_argument("--workers", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    to_fhir, from_fhir = in_process(args.seconds)
    print(f"in process, one core: {to_fhir:,.0f} records/s to FHIR, {from_fhir:,.0f} records/s back to the record")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [] if args.backend == "none" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            path = Path("/tmp") / f"dyad-mapping-bench-{os.getpid()}.sqlite3"
            rate = end_to_end(f"sqlite+aiosqlite:///{path}", args.records, args.workers)
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
        else:
            with fresh_database() as url:
                rate = end_to_end(url, args.records, args.workers)
        print(
            f"end to end over HTTP ({backend}): {rate:,.1f} records/s ingested ({args.records} records, {args.workers} clients)"
        )


if __name__ == "__main__":
    main()
