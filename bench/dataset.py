"""Loading the Observations into Dyad through 1,000-entry transaction Bundles, timing each one."""

import hashlib
import random
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import httpx
import orjson

from bench.observations import (
    CONCERN_SHARE,
    CREATE_INFANTS,
    Key,
    draw_keys,
    infant_count,
    people_transactions,
    transaction,
)

BUNDLE_TIMEOUT_S = 300.0


@dataclass
class LoadedData:
    keys: list[Key]
    ids: list[str]
    bundle_seconds: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    posted: int = 0  # Observations this run posted (the rest came from a snapshot)

    def summary(self) -> dict[str, float | int]:
        times = self.bundle_seconds
        return {
            "bundles": len(times),
            "observations": len(self.keys),
            "observations_posted": self.posted,
            "median_s": round(statistics.median(times), 3) if times else 0.0,
            "max_s": round(max(times), 3) if times else 0.0,
            "first_s": round(times[0], 3) if times else 0.0,
            "last5_median_s": round(statistics.median(times[-5:]), 3) if times else 0.0,
            "load_wall_s": round(self.wall_s, 1),
            "observations_per_s": round(self.posted / self.wall_s, 1) if self.wall_s else 0.0,
        }


@dataclass
class Dataset:
    """The run's Observations in the order they are posted, one transaction body per Bundle.

    Keys are drawn first and bodies after, from one generator, so Bundle k is the same whether or
    not the Bundles before it were posted in this run (a snapshot holds them)."""

    keys: list[Key]
    bundle_size: int
    rng: random.Random
    quiet_bundles: int = 0  # the first Bundles record no concern (see `bench/snapshot.py`)
    quiet_after: int | None = None  # and so do the Bundles from this one on (posted, not timed)

    @classmethod
    def make(
        cls, observations: int, bundle_size: int, seed: int, quiet_bundles: int = 0, quiet_after: int | None = None
    ) -> "Dataset":
        rng = random.Random(seed)
        keys = draw_keys(observations, infant_count(observations), rng)
        return cls(keys, bundle_size, rng, quiet_bundles, quiet_after)

    @property
    def bundles(self) -> int:
        return -(-len(self.keys) // self.bundle_size)

    def people(self) -> list[bytes]:
        """PUT Bundles of everyone the Observations (and the bench's single creates) refer to."""
        infants = max(infant_count(len(self.keys)), CREATE_INFANTS)
        return people_transactions(infants, self.bundle_size)

    def bodies(self) -> Iterator[tuple[int, bytes]]:
        """(bundle number from 0, body) for every Bundle, in order; draws from the generator."""
        for number, start in enumerate(range(0, len(self.keys), self.bundle_size)):
            quiet = number < self.quiet_bundles or (self.quiet_after is not None and number >= self.quiet_after)
            share = 0.0 if quiet else CONCERN_SHARE
            yield number, transaction(self.keys[start : start + self.bundle_size], self.rng, share)


def fingerprint(observations: int, bundle_size: int, seed: int, quiet_bundles: int, bundles: int) -> str:
    """A hash of every body the first `bundles` Bundles (and the people before them) would post:
    what a snapshot of them holds, however the generator's code is written."""
    dataset = Dataset.make(observations, bundle_size, seed, quiet_bundles)
    digest = hashlib.sha256()
    for body in dataset.people():
        digest.update(body)
    for number, body in dataset.bodies():
        if number >= bundles:
            break
        digest.update(body)
    return digest.hexdigest()[:16]


def _created_ids(response_body: bytes) -> list[str]:
    bundle = orjson.loads(response_body)
    return [entry["response"]["location"].split("/")[1] for entry in bundle.get("entry", [])]


def post(
    base_url: str, bodies: Iterator[tuple[int, bytes]], until: int, data: LoadedData, progress_every: int = 10
) -> None:
    """POST Bundles one after another up to (not including) Bundle `until`, timing each one."""
    began = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=BUNDLE_TIMEOUT_S) as client:
        for number, body in bodies:
            sent = time.perf_counter()
            response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
            data.bundle_seconds.append(time.perf_counter() - sent)
            if response.status_code != 200:
                raise RuntimeError(
                    f"transaction {number + 1} failed with {response.status_code}: {response.text[:500]}"
                )
            created = _created_ids(response.content)
            data.ids.extend(created)
            data.posted += len(created)
            if (number + 1) % progress_every == 0:
                print(f"    {len(data.ids):>7} loaded, last bundle {data.bundle_seconds[-1]:.2f} s", flush=True)
            if number + 1 >= until:
                break
    data.wall_s += time.perf_counter() - began


def post_parallel(
    base_url: str, bodies: Iterator[tuple[int, bytes]], until: int, data: LoadedData, parallel: int
) -> None:
    """Like `post`, `parallel` Bundles at a time (to build a snapshot on PostgreSQL, where a server
    with several workers commits independent Bundles side by side); ids kept in Bundle order."""
    began = time.perf_counter()
    created: dict[int, list[str]] = {}

    def one(number: int, body: bytes) -> None:
        with httpx.Client(base_url=base_url, timeout=BUNDLE_TIMEOUT_S) as client:
            sent = time.perf_counter()
            response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
            data.bundle_seconds.append(time.perf_counter() - sent)
        if response.status_code != 200:
            raise RuntimeError(f"transaction {number + 1} failed with {response.status_code}: {response.text[:500]}")
        created[number] = _created_ids(response.content)

    with ThreadPoolExecutor(parallel) as pool:
        pending: set[Future[None]] = set()
        for number, body in bodies:
            if len(pending) >= parallel:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
            pending.add(pool.submit(one, number, body))
            if (number + 1) % 10 == 0:
                print(f"    {number + 1:>4} Bundles sent", flush=True)
            if number + 1 >= until:
                break
        for future in pending:
            future.result()
    for number in sorted(created):
        data.ids.extend(created[number])
        data.posted += len(created[number])
    data.wall_s += time.perf_counter() - began


def post_people(base_url: str, dataset: Dataset) -> None:
    """Everyone the Observations refer to, before them (not timed: not the figure)."""
    with httpx.Client(base_url=base_url, timeout=BUNDLE_TIMEOUT_S) as client:
        for body in dataset.people():
            response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
            if response.status_code != 200:
                raise RuntimeError(f"people transaction failed with {response.status_code}: {response.text[:500]}")


def load(base_url: str, observations: int, bundle_size: int, seed: int, progress_every: int = 10) -> LoadedData:
    """Every Bundle through the API, one after another (the latency of one Bundle is the figure)."""
    dataset = Dataset.make(observations, bundle_size, seed)
    data = LoadedData(keys=dataset.keys, ids=[])
    post_people(base_url, dataset)
    post(base_url, dataset.bodies(), dataset.bundles, data, progress_every)
    return data
