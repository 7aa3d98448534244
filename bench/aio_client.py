"""Fallback load client when wrk cannot be had: raw HTTP/1.1 keep-alive over asyncio streams,
split over several processes (a single Python process tops out at a few thousand requests/s).
"""

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.workload import LoadResult, LoadSettings, Workload

PROCESSES = 2


@dataclass(frozen=True)
class _Job:
    host: str
    port: int
    payloads: list[bytes]
    connections: int
    duration_s: float
    max_requests: int
    offset: int


@dataclass
class _Tally:
    latencies: list[float]
    errors: int
    wall_s: float


def _encode(workload: Workload, host: str) -> list[bytes]:
    payloads = []
    for req in workload.requests:
        head = f"{req.method} {req.path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n"
        if req.body is not None:
            head += f"Content-Type: {workload.content_type}\r\nContent-Length: {len(req.body)}\r\n"
        payloads.append(head.encode() + b"\r\n" + (req.body or b""))
    return payloads


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(job: _Job, start: int, deadline: float, budget: list[int], tally: _Tally) -> None:
    reader, writer = await asyncio.open_connection(job.host, job.port)
    i = start
    try:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            payload = job.payloads[i % len(job.payloads)]
            i += 1
            sent = time.perf_counter()
            writer.write(payload)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                tally.errors += 1
                return
            tally.latencies.append(time.perf_counter() - sent)
            if not 200 <= status < 400:
                tally.errors += 1
    finally:
        writer.close()


async def _drive(job: _Job) -> _Tally:
    tally = _Tally([], 0, 0.0)
    budget = [job.max_requests]
    began = time.monotonic()
    deadline = began + job.duration_s
    step = max(1, len(job.payloads) // max(job.connections, 1))
    await asyncio.gather(
        *(_connection(job, job.offset + c * step, deadline, budget, tally) for c in range(job.connections))
    )
    tally.wall_s = time.monotonic() - began
    return tally


def _worker(job: _Job, out: "multiprocessing.Queue[_Tally]") -> None:
    out.put(asyncio.run(_drive(job)))


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(base_url: str, workload: Workload, settings: LoadSettings) -> LoadResult:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    payloads = _encode(workload, f"{host}:{port}")
    processes = min(PROCESSES, settings.concurrency)
    queue: multiprocessing.Queue[_Tally] = multiprocessing.Queue()
    workers = []
    for p in range(processes):
        job = _Job(
            host,
            port,
            payloads,
            settings.concurrency // processes + (p < settings.concurrency % processes),
            settings.duration_s,
            settings.max_requests // processes,
            p * len(payloads) // processes,
        )
        worker = multiprocessing.Process(target=_worker, args=(job, queue))
        worker.start()
        workers.append(worker)
    tallies = [queue.get(timeout=settings.duration_s + 120) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = sorted(lat for t in tallies for lat in t.latencies)
    if not latencies:
        bound_ms = max(t.wall_s for t in tallies) * 1e3
        return LoadResult(
            0, bound_ms / 1e3, bound_ms, bound_ms, bound_ms, sum(t.errors for t in tallies), "asyncio", censored=True
        )
    return LoadResult(
        requests=len(latencies),
        duration_s=max(t.wall_s for t in tallies),
        p50_ms=_percentile(latencies, 0.50) * 1e3,
        p99_ms=_percentile(latencies, 0.99) * 1e3,
        max_ms=(latencies[-1] if latencies else 0.0) * 1e3,
        errors=sum(t.errors for t in tallies),
        client=f"asyncio x{processes} processes",
    )
