"""Figures, the targets as ratios against baselines of the same run, Markdown and JSON output."""

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.workload import LoadResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    server: str  # echo | fhirstarter | dyad-sqlite | dyad-postgresql
    operation: str
    result: LoadResult
    block: str = ""  # the backend whose rounds this was measured in, so baselines pair with their neighbours
    round: int = 0

    def row(self) -> dict[str, Any]:
        r = self.result
        return {
            "server": self.server,
            "operation": self.operation,
            "block": self.block,
            "round": self.round,
            "requests": r.requests,
            "duration_s": round(r.duration_s, 2),
            "rps": round(r.rps, 1),
            "p50_ms": round(r.p50_ms, 2),
            "p99_ms": round(r.p99_ms, 2),
            "max_ms": round(r.max_ms, 2),
            "errors": r.errors,
            "censored": r.censored,
            **r.cpu,
        }


@dataclass
class Target:
    name: str
    measured: float
    goal: float
    unit: str
    higher_is_better: bool

    @property
    def met(self) -> bool:
        return self.measured >= self.goal if self.higher_is_better else self.measured < self.goal

    @property
    def margin(self) -> float:
        """measured / goal for "at least" targets, goal / measured for "under" targets: ≥ 1 means met."""
        if self.higher_is_better:
            return self.measured / self.goal if self.goal else 0.0
        return self.goal / self.measured if self.measured else float("inf")


@dataclass
class Run:
    settings: dict[str, Any]
    machine: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def find(self, server: str, operation: str, block: str | None = None) -> list[Figure]:
        return [f for f in self.figures if f.server == server and f.operation == operation and block in (None, f.block)]

    def paired_ratio(self, block: str, numerator: tuple[str, str], denominator: tuple[str, str]) -> list[float]:
        """rps ratios of two measurements taken side by side in the same round of one block."""
        ratios = []
        for top in self.find(*numerator, block=block):
            bottom = [f for f in self.find(*denominator, block=block) if f.round == top.round]
            if bottom and bottom[0].result.rps:
                ratios.append(top.result.rps / bottom[0].result.rps)
        return ratios


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summary_rows(run: Run) -> list[dict[str, Any]]:
    """One row per (server, operation, block): medians over the rounds, worst p99 and max."""
    groups: dict[tuple[str, str, str], list[Figure]] = {}
    for figure in run.figures:
        groups.setdefault((figure.server, figure.operation, figure.block), []).append(figure)
    rows = []
    for (server, operation, block), figures in groups.items():
        results = [f.result for f in figures]
        cpu_keys = results[0].cpu.keys()
        rows.append(
            {
                "server": server,
                "operation": operation,
                "block": block,
                "rounds": len(results),
                "rps": _median([r.rps for r in results]),
                "rps_min": min(r.rps for r in results),
                "rps_max": max(r.rps for r in results),
                "p50_ms": _median([r.p50_ms for r in results]),
                "p99_ms": max(r.p99_ms for r in results),
                "max_ms": max(r.max_ms for r in results),
                "requests": sum(r.requests for r in results),
                "errors": sum(r.errors for r in results),
                "censored": any(r.censored for r in results),
                **{k: _median([r.cpu[k] for r in results]) for k in cpu_keys},
            }
        )
    return rows


def machine_facts() -> dict[str, Any]:
    import os

    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "kernel": platform.release()}


SEARCH_P99_1_MS = 50.0
SEARCH_P99_MANY_MS = 200.0
TRANSACTION_S = 1.0
NOTIFY_P99_MS = 1000.0


def targets(run: Run, backends: list[str]) -> list[Target]:
    """Issue 16's goals. Ratios are medians over rounds of side-by-side pairs; search p99 is the worst round's."""
    out: list[Target] = []
    for backend in backends:
        server = f"dyad-{backend}"
        creates = run.paired_ratio(backend, (server, "create"), ("fhirstarter", "create"))
        reads = run.paired_ratio(backend, (server, "read"), ("echo", "echo"))
        searches = [f.result.p99_ms for f in run.find(server, "search")]
        serial = [f.result.p99_ms for f in run.find(server, "search-1-connection")]
        if creates:
            out.append(Target(f"{server} create / fhirstarter create", _median(creates), 2.0, "x", True))
        if reads:
            out.append(Target(f"{server} read / echo ceiling", _median(reads), 0.5, "x", True))
        if serial:
            out.append(
                Target(f"{server} search p99, 1 connection (worst round)", max(serial), SEARCH_P99_1_MS, "ms", False)
            )
        if searches:
            out.append(
                Target(
                    f"{server} search p99, {run.settings.get('concurrency')} connections (worst round)",
                    max(searches),
                    SEARCH_P99_MANY_MS,
                    "ms",
                    False,
                )
            )
        tx = run.transactions.get(server)
        if tx and tx.get("bundles"):
            out.append(Target(f"{server} 1,000-entry transaction, median", tx["median_s"], TRANSACTION_S, "s", False))
            out.append(Target(f"{server} 1,000-entry transaction, max", tx["max_s"], TRANSACTION_S, "s", False))
        notified = run.notifications.get(server)
        if notified:
            rate = notified["target_rate"]
            out.append(
                Target(
                    f"{server} creates/s reached of {rate:g} asked (notifications)",
                    notified["write_rate"],
                    0.95 * rate,
                    "/s",
                    True,
                )
            )
            out.append(
                Target(f"{server} notification p99 at that rate", notified["p99_ms"], NOTIFY_P99_MS, "ms", False)
            )
    return out


def workers_rows(run: Run) -> list[dict[str, Any]]:
    """Each operation on 1 worker next to N workers (PostgreSQL), measured back to back in every round."""
    rows = []
    wide_servers = sorted({(f.server, f.block) for f in run.figures if f.server.endswith("-workers")})
    for wide, block in wide_servers:
        narrow = wide.rsplit("-", 2)[0]
        for operation in ("read", "create", "search"):
            ratios = run.paired_ratio(block, (wide, operation), (narrow, operation))
            one = [f.result for f in run.find(narrow, operation)]
            many = [f.result for f in run.find(wide, operation)]
            if not (one and many and ratios):
                continue
            rows.append(
                {
                    "operation": operation,
                    "one": narrow,
                    "many": wide,
                    "one_rps": _median([r.rps for r in one]),
                    "many_rps": _median([r.rps for r in many]),
                    "ratio": _median(ratios),
                    "one_p99_ms": max(r.p99_ms for r in one),
                    "many_p99_ms": max(r.p99_ms for r in many),
                    "one_cores": _median([r.cpu.get("server_cores", 0.0) for r in one]),
                    "many_cores": _median([r.cpu.get("server_cores", 0.0) for r in many]),
                    "machine_cores": _median([r.cpu.get("machine_cores", 0.0) for r in many]),
                }
            )
    return rows


def markdown(run: Run, goals: list[Target]) -> str:
    lines = [
        "| server | operation | next to | rounds | requests/s (median) | min–max | p50 ms | p99 ms (worst) | errors | server CPU | client CPU | machine CPU | load 1 min |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary_rows(run):
        lines.append(
            f"| {r['server']} | {r['operation']} | {r['block']} | {r['rounds']} | {r['rps']:,.0f} | {r['rps_min']:,.0f}–{r['rps_max']:,.0f} "
            f"| {'≥ ' if r['censored'] else ''}{r['p50_ms']:.2f} | {'≥ ' if r['censored'] else ''}{r['p99_ms']:.2f} | {r['errors']} "
            f"| {r.get('server_cores', 0):.2f} | {r.get('client_cores', 0):.2f} | {r.get('machine_cores', 0):.2f} "
            f"| {r.get('load_1m', 0):.1f} |"
        )
    if run.transactions:
        lines += [
            "",
            "| server | Observations in the database | timed bundles of 1,000 | median s | max s | first s | median of last 5 s | wall s | observations/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for server, tx in run.transactions.items():
            lines.append(
                f"| {server} | {tx['observations']:,} | {tx['bundles']} | {tx['median_s']:.2f} | {tx['max_s']:.2f} | {tx['first_s']:.2f} "
                f"| {tx['last5_median_s']:.2f} | {tx['load_wall_s']:.0f} | {tx['observations_per_s']:,.0f} |"
            )
    workers = workers_rows(run)
    if workers:
        lines += [
            "",
            "| operation | 1 worker requests/s | N workers requests/s | N ÷ 1 (paired, median) | p99 ms 1 / N | server CPU 1 / N | machine CPU |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for w in workers:
            lines.append(
                f"| {w['operation']} ({w['many']}) | {w['one_rps']:,.0f} | {w['many_rps']:,.0f} | {w['ratio']:.2f}× "
                f"| {w['one_p99_ms']:.0f} / {w['many_p99_ms']:.0f} | {w['one_cores']:.2f} / {w['many_cores']:.2f} | {w['machine_cores']:.2f} |"
            )
    if run.notifications:
        lines += [
            "",
            "| server | creates asked/s | reached/s | written | notified | duplicates | p50 ms | p99 ms | max ms | clients |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for server, n in run.notifications.items():
            lines.append(
                f"| {server} | {n['target_rate']:g} | {n['write_rate']:.1f} | {n['written']} | {n['notified']} | {n['duplicates']} "
                f"| {n['p50_ms']:.0f} | {n['p99_ms']:.0f} | {n['max_ms']:.0f} | {n['clients']} |"
            )
    if goals:
        lines += ["", "| target | measured | goal | met | margin |", "| --- | ---: | ---: | --- | ---: |"]
        for goal in goals:
            sign = "≥" if goal.higher_is_better else "<"
            lines.append(
                f"| {goal.name} | {goal.measured:.2f} {goal.unit} | {sign} {goal.goal:g} {goal.unit} "
                f"| {'yes' if goal.met else 'NO'} | {goal.margin:.2f}× |"
            )
    return "\n".join(lines)


def write_json(run: Run, goals: list[Target]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"server-bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    document = {
        "settings": run.settings,
        "machine": run.machine,
        "summary": summary_rows(run),
        "figures": [f.row() for f in run.figures],
        "transactions": run.transactions,
        "notifications": run.notifications,
        "workers": workers_rows(run),
        "targets": [{**asdict(g), "met": g.met, "margin": round(g.margin, 3)} for g in goals],
        "notes": run.notes,
    }
    path.write_text(json.dumps(document, indent=2))
    return path
