"""The load generator the bench uses: wrk when it can be had, else the multi-process asyncio client.

Every target gets the same client, connection count, warm-up and duration.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from bench import aio_client, wrk_client
from bench.cpu import share, snapshot
from bench.workload import LoadResult, LoadSettings, Workload

Runner = Callable[[str, Workload, LoadSettings], LoadResult]


@dataclass(frozen=True)
class LoadClient:
    description: str
    run: Runner


def choose_client(prefer: str) -> LoadClient:
    """`prefer` is "auto" (wrk, installing it if needed, else asyncio), "wrk" or "asyncio"."""
    if prefer != "asyncio":
        binary = wrk_client.find_wrk(install=True)
        if binary:

            def run_wrk(base_url: str, workload: Workload, settings: LoadSettings) -> LoadResult:
                return wrk_client.run(binary, base_url, workload, settings)

            return LoadClient(f"{wrk_client.wrk_version(binary)} ({binary}), 1 thread, Lua-scripted requests", run_wrk)
        if prefer == "wrk":
            raise RuntimeError("wrk was asked for and could not be found or installed")
    return LoadClient(f"asyncio raw-HTTP client, {aio_client.PROCESSES} processes (wrk unavailable)", aio_client.run)


def measure(
    client: LoadClient, base_url: str, workload: Workload, settings: LoadSettings, server_pid: int
) -> LoadResult:
    """Warm up, then one measured run with the CPU used by server, client and machine alongside."""
    if settings.warmup_s > 0:
        client.run(
            base_url,
            workload,
            replace(settings, duration_s=settings.warmup_s, max_requests=settings.max_requests // 5 or 1),
        )
    before = snapshot(server_pid)
    result = client.run(base_url, workload, settings)
    cpu = share(before, snapshot(server_pid))
    result.cpu = {"server_cores": cpu.server, "client_cores": cpu.client, "machine_cores": cpu.machine}
    return result
