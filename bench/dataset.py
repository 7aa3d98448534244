"""Loading the Observations into Dyad through 1,000-entry transaction Bundles, timing each one."""

import random
import statistics
import time
from dataclasses import dataclass, field

import httpx
import orjson

from bench.observations import Key, draw_keys, infant_count, people_transactions, transaction

BUNDLE_TIMEOUT_S = 300.0
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass
class LoadedData:
    keys: list[Key]
    ids: list[str]
    bundle_seconds: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, float | int]:
        times = self.bundle_seconds
        return {
            "bundles": len(times),
            "observations": len(self.keys),
            "median_s": round(statistics.median(times), 3) if times else 0.0,
            "max_s": round(max(times), 3) if times else 0.0,
            "first_s": round(times[0], 3) if times else 0.0,
            "last5_median_s": round(statistics.median(times[-5:]), 3) if times else 0.0,
            "load_wall_s": round(self.wall_s, 1),
            "observations_per_s": round(len(self.keys) / self.wall_s, 1) if self.wall_s else 0.0,
        }


def _created_ids(response_body: bytes) -> list[str]:
    bundle = orjson.loads(response_body)
    return [entry["response"]["location"].split("/")[1] for entry in bundle.get("entry", [])]


def load_people(client: httpx.Client, infants: int) -> None:
    """The Patients, RelatedPersons and Practitioners the Observations refer to: Dyad refuses a
    write whose references do not resolve. Not timed (the figure is the Observations' Bundles)."""
    for number, body in enumerate(people_transactions(infants), 1):
        response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
        if response.status_code != 200:
            raise RuntimeError(f"people transaction {number} failed with {response.status_code}: {response.text[:500]}")


def load(base_url: str, observations: int, bundle_size: int, seed: int, progress_every: int = 10) -> LoadedData:
    """POST transaction Bundles one after another (the latency of one Bundle is the figure)."""
    rng = random.Random(seed)
    keys = draw_keys(observations, infant_count(observations), rng)
    data = LoadedData(keys=keys, ids=[])
    began = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=BUNDLE_TIMEOUT_S) as client:
        load_people(client, infant_count(observations))
        for number, start in enumerate(range(0, observations, bundle_size), 1):
            body = transaction(keys[start : start + bundle_size], rng)
            sent = time.perf_counter()
            response = client.post("/fhir", content=body, headers=FHIR_JSON)
            data.bundle_seconds.append(time.perf_counter() - sent)
            if response.status_code != 200:
                raise RuntimeError(f"transaction {number} failed with {response.status_code}: {response.text[:500]}")
            data.ids.extend(_created_ids(response.content))
            if number % progress_every == 0:
                print(f"    {start + bundle_size:>7} loaded, last bundle {data.bundle_seconds[-1]:.2f} s", flush=True)
    data.wall_s = time.perf_counter() - began
    return data
