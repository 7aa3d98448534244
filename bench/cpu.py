"""CPU accounting around one measurement: the server process, the load client, the whole machine.

Read as fractions of one core over the measurement's wall time; they show which side saturated.
"""

import os
import resource
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and every process under it (`dyad serve --workers N` is N + 2)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0.0
    for member in tree:
        try:
            total += process_cpu_s(member)
        except (OSError, ValueError, IndexError):
            continue
    return total


def machine_busy_s() -> float:
    """CPU seconds all cores spent not idle (from /proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _TICK


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSnapshot:
    wall: float
    server: float
    client: float
    machine: float


@dataclass(frozen=True)
class CpuShare:
    """Cores used on average (1.0 = one core fully busy)."""

    server: float
    client: float
    machine: float


def snapshot(server_pid: int) -> CpuSnapshot:
    return CpuSnapshot(time.monotonic(), tree_cpu_s(server_pid), children_cpu_s(), machine_busy_s())


def share(before: CpuSnapshot, after: CpuSnapshot) -> CpuShare:
    wall = max(after.wall - before.wall, 1e-9)
    return CpuShare(
        server=round((after.server - before.server) / wall, 2),
        client=round((after.client - before.client) / wall, 2),
        machine=round((after.machine - before.machine) / wall, 2),
    )
