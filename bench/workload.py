"""What a load client is asked to do and what it reports back."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class Workload:
    """Requests sent in rotation, each connection starting at its own offset."""

    name: str
    requests: list[Request]
    content_type: str = "application/fhir+json"


@dataclass(frozen=True)
class LoadSettings:
    concurrency: int
    duration_s: float
    max_requests: int  # only the asyncio fallback can stop on a count; wrk runs for duration_s
    warmup_s: float


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors, timeouts and non-2xx responses
    client: str
    cpu: dict[str, float] = field(default_factory=dict)
    censored: bool = False  # no request completed: the latencies are only lower bounds (the run's length)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0
