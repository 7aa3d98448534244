"""Prometheus metrics: requests and latency by interaction and resource type."""

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from service.periodic import Periodic


class Metrics:
    """One registry per app, so that several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dyad_requests_total",
            "FHIR requests by interaction, resource type and status class",
            ("interaction", "resource_type", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "dyad_request_duration_seconds",
            "Time to answer a FHIR request",
            ("interaction", "resource_type"),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

        self.audit_write_failures = Counter(
            "dyad_audit_write_failures_total",
            "Failed attempts to write a batch of buffered AuditEvents (each is retried, none dropped)",
            registry=self.registry,
        )
        self.audit_pending = Gauge("dyad_audit_pending", "AuditEvents waiting to be written", registry=self.registry)
        self.audit_refused = Counter(
            "dyad_audit_refused_requests_total",
            "Requests refused (503) because the audit queue was full",
            registry=self.registry,
        )
        self._periodic = _PeriodicRuns()
        self.registry.register(self._periodic)

    def watch(self, jobs: Sequence[Periodic]) -> None:
        """Report the runs of the background jobs this process started (read when scraped)."""
        self._periodic.jobs = tuple(jobs)

    def observe(self, interaction: str, resource_type: str, status: int, seconds: float) -> None:
        self.requests.labels(interaction, resource_type, f"{status // 100}xx").inc()
        self.latency.labels(interaction, resource_type).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PeriodicRuns(Collector):
    def __init__(self) -> None:
        self.jobs: tuple[Periodic, ...] = ()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("dyad_periodic_runs", "Finished runs of each background job", labels=("job",))
        for job in self.jobs:
            family.add_metric((job.name,), job.runs)
        yield family
