"""What oversized requests cost a real server (issue 11 #10): memory while a 100 MB chunked body
arrives, and the time of a search with 100 repeated include parameters.

    .venv/bin/python -m bench.limits_bench [--megabytes 100] [--repeats 100]

Starts `dyad serve` on loopback with a fresh SQLite database and reads the server's resident
memory (VmRSS) and its peak (VmHWM) from /proc before and after. Figures are printed; none is
asserted (tests do that without wall-clock time).
"""

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.servers import dyad_command, free_port, running
from tests.fhir_samples import infant, observation

CHUNK = 64 * 1024


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        sent += CHUNK
        yield b"a=" + b"x" * (CHUNK - 2)


def body_memory(base: str, pid: int, megabytes: int) -> None:
    before = memory_kib(pid)
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        try:
            response = client.post(
                "/fhir/Observation/_search",
                content=chunks(megabytes * 1024 * 1024),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            status: object = response.status_code
        except httpx.HTTPError as exc:  # the server may close the connection mid-upload
            status = type(exc).__name__
    after = memory_kib(pid)
    print(
        f"chunked POST _search of {megabytes} MB: answer {status} in {time.perf_counter() - started:.2f} s; "
        f"RSS {before['VmRSS'] / 1024:.0f} -> {after['VmRSS'] / 1024:.0f} MiB, "
        f"peak {before['VmHWM'] / 1024:.0f} -> {after['VmHWM'] / 1024:.0f} MiB "
        f"(growth of peak {(after['VmHWM'] - before['VmHWM']) / 1024:.0f} MiB)"
    )


def include_cost(base: str, repeats: int) -> None:
    with httpx.Client(base_url=base, timeout=600, headers={"Content-Type": "application/fhir+json"}) as client:
        client.put("/fhir/Patient/baby", json={**infant(), "id": "baby"})
        for _ in range(20):
            client.post("/fhir/Observation", json=observation("Patient/baby"))
        once = "/fhir/Patient?_id=baby&_revinclude:iterate=Observation:subject"
        many = "/fhir/Patient?_id=baby&" + "&".join(["_revinclude:iterate=Observation:subject"] * repeats)
        for label, url in (("1 include", once), (f"{repeats} repeats", many)):
            client.get(url)
            started = time.perf_counter()
            rounds = 5
            for _ in range(rounds):
                status = client.get(url).status_code
            print(
                f"search with {label}: answer {status}, {(time.perf_counter() - started) / rounds * 1000:.1f} ms a search"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {"DYAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/dyad.sqlite3", "DYAD_RATE_LIMIT_PER_MINUTE": "0"}
        with running("dyad", dyad_command(port), "/healthz", port, env, Path(tmp)) as server:
            time.sleep(1)
            body_memory(server.base_url, server.pid, args.megabytes)
            include_cost(server.base_url, args.repeats)


if __name__ == "__main__":
    main()
