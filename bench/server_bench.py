"""`python -m bench.server_bench`: Dyad against its ceiling and its Python peer, in one run.

Each server is a real subprocess with one uvicorn worker; one load client (wrk when it can be
had) drives every target with the same connections, warm-up and duration. Targets are ratios
against baselines measured in this same run, never absolute timings.
"""

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType

import httpx
import orjson

from bench import notify_bench
from bench import observations as obs
from bench.dataset import Dataset, LoadedData, fingerprint, post, post_parallel, post_people
from bench.load import LoadClient, choose_client, measure
from bench.postgres import fresh_database
from bench.profiling import sampled
from bench.report import Figure, Run, machine_facts, markdown, targets, write_json
from bench.servers import Server, dyad_command, free_port, running, uvicorn_command, wait_idle
from bench.snapshot import Snapshot, check_index_rows, code_commit
from bench.workload import LoadSettings, Request, Workload

BUNDLE_SIZE = 1000
SEED = 20261121
NOTIFY_RATE = 200.0  # Observations/s, issue 16's notification goal
NOTIFY_CLIENTS = 16  # requests outstanding at once, as in the README's single-create notification figure


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.server_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--observations", type=int, default=100_000, help="Observations loaded before read/search (default 100000)"
    )
    parser.add_argument("--quick", action="store_true", help="small counts and short runs, for trying the bench")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 10, quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each measured run (default 2, quick 1)")
    parser.add_argument(
        "--requests",
        type=int,
        default=500_000,
        help="request cap per run (asyncio client only; wrk runs for --duration)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="open connections, the same for every target (default 32)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of side-by-side measurements per backend (default 3, quick 1)"
    )
    parser.add_argument("--client", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="on PostgreSQL, also measure `dyad serve --workers N` next to 1 worker in every round (default 2; 1: only 1)",
    )
    parser.add_argument(
        "--tail-bundles",
        type=int,
        default=6,
        help="Bundles posted in the run and timed; the ones before them come from a kept snapshot (default 6)",
    )
    parser.add_argument(
        "--timed-bundles",
        type=int,
        help="of the tail, how many are timed (with concerns, as the data has them); the rest record no "
        "concern and are posted untimed afterwards, for a shorter run (default: the whole tail)",
    )
    parser.add_argument(
        "--fresh-load", action="store_true", help="load every Bundle through the API and replace the kept snapshot"
    )
    parser.add_argument(
        "--load-only", action="store_true", help="build (or find) the snapshot for each backend, then stop"
    )
    parser.add_argument(
        "--notify-seconds",
        type=float,
        help="seconds of bench.notify_bench (200 Observations/s, single creates) per backend (default 20, quick 5; 0: skip)",
    )
    parser.add_argument(
        "--profile", type=Path, help="sample each Dyad measurement with py-spy into this folder (slows the server)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.observations = min(args.observations, 5_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    if args.notify_seconds is None:
        args.notify_seconds = 5.0 if args.quick else 20.0
    return args


def _sigterm_as_interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# --- workloads -------------------------------------------------------------------------------


def create_workload(count: int = 200) -> Workload:
    rng = random.Random(SEED + 1)
    keys = obs.draw_keys(count, obs.CREATE_INFANTS, rng)
    return Workload("create", [Request("POST", "/fhir/Observation", obs.observation_body(k, rng)) for k in keys])


def echo_workload() -> Workload:
    rng = random.Random(SEED + 2)
    keys = obs.draw_keys(50, 1000, rng)
    return Workload("echo", [Request("POST", "/echo", obs.observation_body(k, rng)) for k in keys], "application/json")


def read_workload(ids: list[str], count: int = 2000) -> Workload:
    chosen = random.Random(SEED + 3).sample(ids, min(count, len(ids)))
    return Workload("read", [Request("GET", f"/fhir/Observation/{i}") for i in chosen])


def search_workload(keys: list[obs.Key], count: int = 1000) -> tuple[Workload, float]:
    """Searches for (infant, instrument) pairs that exist; also the mean rows each should return."""
    rng = random.Random(SEED + 4)
    pairs = [(k.infant, k.assessment) for k in rng.sample(keys, min(count, len(keys)))]
    expected = [obs.expected_matches(keys, i, c) for i, c in pairs[:100]]
    requests = [Request("GET", obs.search_path(i, c)) for i, c in pairs]
    return Workload("search", requests), sum(expected) / len(expected)


# --- the servers ------------------------------------------------------------------------------


@dataclass
class Bench:
    run: Run
    client: LoadClient
    settings: LoadSettings
    logs: Path
    profile: Path | None

    def measure(
        self,
        server: Server,
        workload: Workload,
        block: str,
        round_: int,
        *,
        idle_path: str,
        profile: bool = False,
        settings: LoadSettings | None = None,
    ) -> None:
        print(f"  [{block} round {round_}] {server.name} {workload.name} ...", end=" ", flush=True)
        with sampled(server.pid, self.profile if profile else None, f"{server.name}-{workload.name}-{round_}"):
            result = measure(self.client, server.base_url, workload, settings or self.settings, server.pid)
        result.cpu["load_1m"] = os.getloadavg()[0]
        self.run.figures.append(Figure(server.name, workload.name, result, block, round_))
        drained = wait_idle(server, idle_path)
        print(
            f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, errors {result.errors}"
            f"{' (NO request completed: latencies are lower bounds)' if result.censored else ''}, cpu {result.cpu}"
            f"{f', server busy {drained:.0f} s after the client stopped' if drained > 1 else ''}",
            flush=True,
        )


@dataclass
class Peers:
    echo: Server
    fhirstarter: Server
    fhirstarter_ids: list[str]


def _without_base(workload: Workload) -> Workload:
    """fhirstarter serves at the root, not under /fhir."""
    return Workload(workload.name, [Request(r.method, r.path.removeprefix("/fhir"), r.body) for r in workload.requests])


def _seed_fhirstarter(base_url: str, count: int) -> list[str]:
    rng = random.Random(SEED + 5)
    ids = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for key in obs.draw_keys(count, 1000, rng):
            response = http.post(
                "/Observation",
                content=obs.observation_body(key, rng),
                headers={"Content-Type": "application/fhir+json"},
            )
            response.raise_for_status()
            ids.append(response.headers["location"].split("/Observation/")[1].split("/")[0])
    return ids


@contextmanager
def peers(logs: Path) -> Iterator[Peers]:
    """The echo ceiling and fhirstarter stay up (idle between their turns) for the whole run."""
    echo_port, peer_port = free_port(), free_port()
    with (
        running("echo", uvicorn_command("bench.echo_app:app", echo_port), "/healthz", echo_port, {}, logs) as echo,
        running(
            "fhirstarter",
            uvicorn_command("bench.fhirstarter_app:app", peer_port),
            "/metadata",
            peer_port,
            {"FHIR_SEQUENCE": "R4B"},
            logs,
        ) as peer,
    ):
        yield Peers(echo, peer, _seed_fhirstarter(peer.base_url, 500))


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "postgresql":
        with fresh_database() as url:
            yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="dyad-bench-"))
    try:
        yield f"sqlite+aiosqlite:///{folder / 'dyad.sqlite3'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_search(base_url: str, keys: list[obs.Key], run: Run, server: str) -> bool:
    """The searches return what the data says they should, or the search figure means nothing."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for infant, assessment in [(k.infant, k.assessment) for k in keys[:5]]:
            response = http.get(obs.search_path(infant, assessment))
            want = obs.expected_matches(keys, infant, assessment)
            if response.status_code != 200:
                run.notes.append(f"{server}: search answered {response.status_code}: {response.text[:300]}")
                return False
            got = len(
                [
                    e
                    for e in orjson.loads(response.content).get("entry", [])
                    if e.get("search", {}).get("mode", "match") == "match"
                ]
            )
            if got != want:
                run.notes.append(f"{server}: search for infant {infant} returned {got} rows, the data has {want}")
                return False
    return True


@dataclass
class DyadServer:
    """How to start Dyad on one database (a name, a command, its environment)."""

    name: str
    url: str
    workers: int = 1

    def start(self, bench: Bench) -> AbstractContextManager[Server]:
        # The rate limiter (200 requests/s per client by default) would answer the one wrk client
        # with 429s: fast, counted as requests/s and as errors, and not what is being measured.
        env = {
            "DYAD_DATABASE_URL": self.url,
            "DYAD_AUTH": "off",
            "DYAD_LOG_LEVEL": "WARNING",
            "DYAD_RATE_LIMIT_PER_MINUTE": "0",
        }
        port = free_port()
        return running(self.name, dyad_command(port, self.workers), "/readyz", port, env, bench.logs)


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{time.strftime('%H:%M:%S', time.gmtime())} UTC load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


@dataclass
class Loading:
    dataset: Dataset
    bodies: Iterator[tuple[int, bytes]]
    data: LoadedData
    snapshot: Snapshot | None


def prepare(
    bench: Bench, dyad: DyadServer, backend: str, observations: int, tail: int, timed: int, fresh: bool
) -> Loading:
    """The database at dyad.url holding every Bundle but the last `tail`, from a snapshot when one
    matches (else loaded through the API now and kept as one); the rest are posted by the caller."""
    bundles = -(-observations // BUNDLE_SIZE)
    head = max(0, bundles - tail)
    dataset = Dataset.make(observations, BUNDLE_SIZE, SEED, quiet_bundles=head, quiet_after=head + timed)
    bodies = dataset.bodies()
    data = LoadedData(keys=dataset.keys, ids=[])
    if head == 0:
        with dyad.start(bench) as server:
            post_people(server.base_url, dataset)
        return Loading(dataset, bodies, data, None)
    snap = Snapshot(backend, observations, head, fingerprint(observations, BUNDLE_SIZE, SEED, head, head))
    if not fresh and snap.exists():
        print(
            f"  {dyad.name}: {head:,} Bundles from snapshot {snap.key} (built {snap.meta['saved_at']} on {snap.meta['commit']})"
        )
        began = time.perf_counter()
        snap.restore(dyad.url)
        data.ids = list(snap.meta["ids"])
        for _ in range(head):  # the generator must stand where the snapshot stopped
            next(bodies)
        bench.run.notes.append(
            f"{dyad.name}: the first {head:,} Bundles ({len(data.ids):,} Observations) restored in "
            f"{time.perf_counter() - began:.0f} s from snapshot {snap.key}, loaded through the API on "
            f"{snap.meta['saved_at']} by commit {snap.meta['commit']} ({snap.meta['observations_per_s']:.0f} Observations/s, "
            f"Bundle median {snap.meta['median_s']:.2f} s, max {snap.meta['max_s']:.2f} s)"
        )
        return Loading(dataset, bodies, data, snap)
    print(
        f"  {dyad.name}: loading {head:,} Bundles of {BUNDLE_SIZE:,} through the API, kept as a snapshot ...",
        flush=True,
    )
    built = LoadedData(keys=dataset.keys, ids=[])
    commit = code_commit()  # what the server runs; HEAD may move during a long load
    # On PostgreSQL two workers take two Bundles at a time: the build is not the figure, and on a
    # machine shared by other sessions two processes get twice the CPU share of one.
    parallel = 2 if backend == "postgresql" else 1
    with replace(dyad, workers=parallel).start(bench) as server:
        post_people(server.base_url, dataset)
        if parallel > 1:
            post_parallel(server.base_url, bodies, head, built, parallel)
        else:
            post(server.base_url, bodies, head, built)
    snap.save(dyad.url, {"ids": built.ids, **built.summary(), "commit": commit})
    data.ids = built.ids
    bench.run.notes.append(
        f"{dyad.name}: the first {head:,} Bundles loaded through the API in this run ({uptime()} at the end): "
        f"{built.summary()}; kept as snapshot {snap.key}"
    )
    return Loading(dataset, bodies, data, snap)


def bench_dyad(bench: Bench, peer: Peers, backend: str, args: argparse.Namespace) -> None:
    """Load, then rounds of side-by-side pairs: echo then Dyad read, fhirstarter create then Dyad create."""
    name = f"dyad-{backend}"
    run = bench.run
    run.notes.append(f"{name} block starts: {uptime()}")
    with database(backend) as url:
        dyad = DyadServer(name, url)
        timed = min(args.timed_bundles or args.tail_bundles, args.tail_bundles)
        loading = prepare(bench, dyad, backend, args.observations, args.tail_bundles, timed, args.fresh_load)
        if args.load_only:
            return
        data = loading.data
        wide_workers = args.workers if backend == "postgresql" and args.workers > 1 else 0
        wide = DyadServer(f"{name}-{wide_workers}-workers", url, wide_workers) if wide_workers else None
        with dyad.start(bench) as server, wide.start(bench) if wide else nullcontext() as wide_server:
            print(
                f"  {name}: posting the last {loading.dataset.bundles - len(data.ids) // BUNDLE_SIZE} Bundles of {BUNDLE_SIZE:,} ...",
                flush=True,
            )
            first_quiet = loading.dataset.quiet_after or loading.dataset.bundles
            with sampled(server.pid, bench.profile, f"{name}-transaction"):
                post(server.base_url, loading.bodies, first_quiet, data)
            if first_quiet < loading.dataset.bundles:  # the rest of the tail, not timed
                rest = LoadedData(data.keys, data.ids)
                if wide_server:  # two workers, two Bundles at a time
                    post_parallel(wide_server.base_url, loading.bodies, loading.dataset.bundles, rest, 2)
                else:
                    post(server.base_url, loading.bodies, loading.dataset.bundles, rest)
            run.transactions[name] = data.summary()
            print(f"    {run.transactions[name]}", flush=True)
            if loading.snapshot is not None and first_quiet < loading.dataset.bundles:
                # Both ends record no concern: the same shape, so the same index rows per Observation.
                stale = check_index_rows(url)
                ok = "the snapshot's Observations have the index rows the current code writes"
                run.notes.append(f"{name}: snapshot check: {stale or ok}")
            elif loading.snapshot is not None:
                run.notes.append(
                    f"{name}: snapshot not checked (the last Bundle records concerns; use --timed-bundles)"
                )
            search, rows = search_workload(data.keys)
            run.notes.append(f"{name}: each search should return {rows:.1f} rows on average")
            search_works = _check_search(server.base_url, data.keys, run, name)
            if not search_works:
                print(f"    search skipped: {run.notes[-1]}", flush=True)
            read, create = read_workload(data.ids), create_workload()
            peer_read, peer_create = _without_base(read_workload(peer.fhirstarter_ids)), _without_base(create)
            serial = Workload("search-1-connection", search.requests)
            one_connection = replace(bench.settings, concurrency=1)
            for round_ in range(1, args.rounds + 1):
                profile = round_ == 1
                run.notes.append(f"{name} round {round_}: {uptime()}")
                bench.measure(peer.echo, echo_workload(), backend, round_, idle_path="/healthz")
                bench.measure(server, read, backend, round_, idle_path="/healthz", profile=profile)
                if wide_server:
                    bench.measure(wide_server, read, backend, round_, idle_path="/healthz")
                bench.measure(peer.fhirstarter, peer_create, backend, round_, idle_path="/metadata")
                bench.measure(server, create, backend, round_, idle_path="/healthz", profile=profile)
                if wide_server:
                    bench.measure(wide_server, create, backend, round_, idle_path="/healthz")
                bench.measure(peer.fhirstarter, peer_read, backend, round_, idle_path="/metadata")
                if search_works:
                    bench.measure(
                        server,
                        serial,
                        backend,
                        round_,
                        idle_path="/healthz",
                        settings=one_connection,
                        profile=profile,
                    )
                    bench.measure(server, search, backend, round_, idle_path="/healthz", profile=profile)
                    if wide_server:
                        bench.measure(wide_server, search, backend, round_, idle_path="/healthz")
    run.notes.append(f"{name} block ends: {uptime()}")
    if args.notify_seconds > 0:
        notifications(run, backend, args.notify_seconds)


def notifications(run: Run, backend: str, seconds: float) -> None:
    """`bench.notify_bench` at 200 Observations/s through single creates, on a fresh database."""
    print(
        f"  dyad-{backend}: notifications at {NOTIFY_RATE:g} Observations/s, single creates, {seconds:g} s ...",
        flush=True,
    )
    before = uptime()
    try:
        result = notify_bench.run_backend(
            backend, NOTIFY_RATE, seconds, 1, NOTIFY_CLIENTS, workers=1, separate_notifier=False
        )
    except Exception as error:  # a failed notification run is reported, the rest of the run stands
        run.notes.append(f"dyad-{backend}: notification run failed: {error!r}")
        return
    run.notifications[f"dyad-{backend}"] = {
        **asdict(result),
        "clients": NOTIFY_CLIENTS,
        "seconds": seconds,
        "uptime": before,
    }
    print(f"    {result}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    client = choose_client(args.client)
    settings = LoadSettings(args.concurrency, args.duration, args.requests, args.warmup)
    run = Run(
        settings={
            "backends": backends,
            "observations": args.observations,
            "bundle_size": BUNDLE_SIZE,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "client": client.description,
            "quick": args.quick,
            "profiled": bool(args.profile),
            "postgresql_workers": args.workers,
            "tail_bundles": args.tail_bundles,
            "fresh_load": args.fresh_load,
            "notify_seconds": args.notify_seconds,
            "notify_rate": NOTIFY_RATE,
            "notify_clients": NOTIFY_CLIENTS,
            "commit": code_commit(),
        },
        machine=machine_facts(),
    )
    print(
        f"load client: {client.description}; {args.concurrency} connections, {args.warmup:g} s warm-up + {args.duration:g} s per run",
        flush=True,
    )
    print(f"machine: {run.machine}", flush=True)
    logs = Path(tempfile.mkdtemp(prefix="dyad-bench-logs-"))
    bench = Bench(run, client, settings, logs, args.profile)
    try:
        with peers(logs) as peer:
            for backend in backends:
                bench_dyad(bench, peer, backend, args)
    except KeyboardInterrupt:
        print("interrupted: servers stopped, partial results follow", file=sys.stderr)
        run.notes.append("interrupted")
    finally:
        goals = targets(run, backends)
        print("\n" + markdown(run, goals))
        for note in run.notes:
            print(f"- {note}")
        print(f"\nJSON: {write_json(run, goals)}; server logs: {logs}")
    return 0 if "interrupted" not in run.notes else 130


if __name__ == "__main__":
    sys.exit(main())
