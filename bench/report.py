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


def targets(run: Run, backends: list[str]) -> list[Target]:
    """Ratios are medians over rounds of side-by-side pairs; search p99 is the worst round's."""
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
            out.append(Target(f"{server} search p99, 1 connection (worst round)", max(serial), 50.0, "ms", False))
        if searches:
            out.append(
                Target(
                    f"{server} search p99, {run.settings.get('concurrency')} connections (worst round)",
                    max(searches),
                    50.0,
                    "ms",
                    False,
                )
            )
        tx = run.transactions.get(server)
        if tx and tx.get("bundles"):
            out.append(Target(f"{server} 1,000-entry transaction, median", tx["median_s"], 2.0, "s", False))
            out.append(Target(f"{server} 1,000-entry transaction, max", tx["max_s"], 2.0, "s", False))
    return out


def markdown(run: Run, goals: list[Target]) -> str:
    lines = [
        "| server | operation | next to | rounds | requests/s (median) | min–max | p50 ms | p99 ms (worst) | errors | server CPU | client CPU | machine CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary_rows(run):
        lines.append(
            f"| {r['server']} | {r['operation']} | {r['block']} | {r['rounds']} | {r['rps']:,.0f} | {r['rps_min']:,.0f}–{r['rps_max']:,.0f} "
            f"| {'≥ ' if r['censored'] else ''}{r['p50_ms']:.2f} | {'≥ ' if r['censored'] else ''}{r['p99_ms']:.2f} | {r['errors']} "
            f"| {r.get('server_cores', 0):.2f} | {r.get('client_cores', 0):.2f} | {r.get('machine_cores', 0):.2f} |"
        )
    if run.transactions:
        lines += [
            "",
            "| server | bundles of 1,000 | median s | max s | first s | median of last 5 s | load wall s | observations/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for server, tx in run.transactions.items():
            lines.append(
                f"| {server} | {tx['bundles']} | {tx['median_s']:.2f} | {tx['max_s']:.2f} | {tx['first_s']:.2f} "
                f"| {tx['last5_median_s']:.2f} | {tx['load_wall_s']:.0f} | {tx['observations_per_s']:,.0f} |"
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
        "targets": [{**asdict(g), "met": g.met, "margin": round(g.margin, 3)} for g in goals],
        "notes": run.notes,
    }
    path.write_text(json.dumps(document, indent=2))
    return path
