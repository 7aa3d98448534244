"""All of Dyad's settings, read once from `DYAD_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DYAD_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/dyad.sqlite3",
        description="SQLAlchemy async URL; the default is a SQLite file under ./var/",
    )
    profiles_dir: Path = Field(default=PROJECT_ROOT / "profiles")
    mappings_dir: Path = Field(default=PROJECT_ROOT / "mappings")
    base_url: str = Field(
        default="",
        description="Public base of the FHIR endpoint used in links; derived from the request when empty.",
    )
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(
        default=1,
        ge=1,
        description="Server processes `dyad serve` starts (PostgreSQL only above 1); with more than one, "
        "notifications are delivered by one `dyad notify-worker` process beside them",
    )
    migrate_on_start: bool = True
    required_profiles: dict[str, str] = Field(
        default_factory=dict,
        description="Profiles a resource must meet even if it does not claim them: JSON object of "
        'profile URL to a FHIRPath condition on the resource ("true" for every resource of its type)',
    )
    restricted_sources: list[str] = Field(
        default_factory=lambda: ["https://w3id.org/dyad/fhir/source/perinatal-mental-health"],
        description="meta.source prefixes whose resources are labelled restricted (confidentiality R)",
    )
    restricted_organizations: list[str] = Field(
        default_factory=list,
        description="Organisations (Organization/<id>) whose writes are labelled restricted, e.g. perinatal mental health teams",
    )
    restricted_organization_types: list[str] = Field(
        default_factory=lambda: [
            "http://snomed.info/sct|901221000000102",  # Perinatal mental health service (UK Core CareSettingType)
            "http://snomed.info/sct|1079481000000104",  # Perinatal psychiatry service (UK Core CareSettingType)
        ],
        description="Organization.type codings (system|code) whose organisations' writes are labelled restricted",
    )
    audit_flush_seconds: float = Field(
        default=0.2, description="Longest a read's AuditEvent waits before it is written"
    )
    audit_queue_limit: int = Field(
        default=10000,
        ge=1,
        description="AuditEvents waiting to be written beyond which new requests are refused (503) until "
        "the audit trail can be written again",
    )
    audit_retry_initial_seconds: float = Field(
        default=0.5, gt=0, description="Wait after a failed audit write before it is tried again (doubling)"
    )
    audit_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between two audit write attempts"
    )
    statistics_check_seconds: float = Field(
        default=30,
        description="How often to check whether the planner statistics need refreshing, on SQLite and PostgreSQL "
        "(0: never; on PostgreSQL autovacuum may do it instead)",
    )
    gc_freeze_after_start: bool = Field(
        default=True,
        description="After start-up, collect once and move what start-up left alive (the compiled guide, "
        "~280,000 objects) out of the garbage collector's view (gc.freeze), so full collections stop "
        "rescanning it; they paused writes for up to ~200 ms",
    )
    max_body_bytes: int = 5 * 1024 * 1024
    max_bundle_entries: int = 5000
    default_page_size: int = 50
    max_page_size: int = 1000
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="Database connections each process holds at most (a fixed pool: a request waits for a free "
        "one rather than opening another); on PostgreSQL, processes x this must stay within max_connections",
    )
    db_pool_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest a request waits for a pooled database connection before it is answered 503",
    )
    statement_timeout_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Longest one SQL statement may run on PostgreSQL before it is cancelled (0: no limit); "
        "a search cut short answers 503",
    )
    log_level: str = "INFO"
    sql_echo: bool = False

    # Security: bearer tokens, keys and rate limits (service/security/).
    auth: Literal["off", "jwt"] = Field(
        default="jwt",
        description="'jwt' (the default) requires a signed bearer token on every FHIR request; 'off' makes every "
        "caller the server itself and must be chosen explicitly, for local development only.",
    )
    jwt_jwks_file: Path | None = Field(default=None, description="JWKS file holding the token issuer's public keys.")
    jwt_jwks_url: str = Field(default="", description="HTTPS URL of the token issuer's JWKS (http only for loopback).")
    jwt_issuer: str = Field(default="", description="Expected `iss`; required with a JWKS file or URL.")
    jwt_audience: str = Field(default="", description="Expected `aud` (this server); required with a JWKS file or URL.")
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat.")
    jwt_org_claim: str = Field(default="organization", description="Claim naming the calling organisation.")
    jwt_purpose_claim: str = Field(default="purpose_of_use", description="Claim carrying the purpose of use.")
    jwt_jwks_cache_seconds: int = Field(default=300, ge=1, description="How long fetched or read JWKS keys are reused.")
    jwt_jwks_refresh_min_seconds: int = Field(
        default=30, ge=1, description="Least time between two JWKS reloads forced by an unknown key id."
    )
    dev_key_file: Path = Field(
        default=Path("var/dev-signing-key.pem"), description="Development signing key used by `dyad token`."
    )
    dev_key_algorithm: Literal["ES256", "RS256"] = Field(
        default="ES256", description="Algorithm of the development key when it is first created."
    )
    serve_dev_jwks: bool = Field(
        default=False,
        description="Trust (and publish) the development key's JWKS when no JWKS file or URL is set. "
        "Never in production.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scraper must send to read /metrics when DYAD_AUTH=jwt; unset, /metrics is "
        "refused under jwt (it is open only with auth off, for development)",
    )
    rate_limit_per_minute: int = Field(
        default=12000, ge=0, description="Sustained requests a minute per client; 0 turns limiting off."
    )
    rate_limit_burst: int = Field(
        default=400, ge=1, description="Requests a client may make at once before being limited."
    )

    # Subscriptions: the outbox and its delivery worker (service/notify/, docs/notifications.md).
    notify_worker_enabled: bool = Field(default=True, description="Run the delivery worker in this process.")
    notify_allow_private: bool = Field(
        default=False,
        description="Let subscriptions deliver to private and loopback addresses (development, tests, a closed "
        "network). Link-local, metadata, unspecified and multicast addresses are refused regardless.",
    )
    notify_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or addresses whose private or loopback addresses subscriptions may deliver to, "
        'as a JSON list (e.g. ["ehr-gateway.trust.internal"]); the narrower alternative to DYAD_NOTIFY_ALLOW_PRIVATE',
    )
    notify_poll_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The worker's safety poll: it is woken on commit (in process; LISTEN/NOTIFY across processes "
        "on PostgreSQL) and polls this often for what a wake-up missed and for retries that fell due",
    )
    notify_retry_horizon_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="How long an event is retried, from when it was queued, before it is marked dead.",
    )
    notify_initial_backoff_seconds: float = Field(default=1.0, gt=0, description="Wait after a first failed attempt.")
    notify_max_backoff_seconds: float = Field(default=600.0, gt=0, description="Longest wait between two attempts.")
    notify_timeout_seconds: float = Field(default=10.0, gt=0, description="Time allowed for an endpoint to answer.")
    notify_errors_before_error_status: int = Field(
        default=3, ge=1, description="Consecutive failures after which Subscription.status becomes error."
    )
    notify_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed subscription stays with a worker that stops renewing it."
    )
    notify_subscription_refresh_seconds: float = Field(
        default=5.0, gt=0, description="How often the active subscriptions are re-read (other replicas write them too)."
    )
    notify_batch_size: int = Field(default=100, ge=1, description="Events read per round from one subscription.")
    notify_max_lanes: int = Field(default=32, ge=1, description="Subscriptions one worker delivers to at once.")
    notify_retention_hours: float = Field(
        default=7 * 24, ge=0, description="How long delivered and dead notification events are kept (0: for ever)."
    )
    notify_purge_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often the delivery worker purges events older than the retention."
    )

    # The care pathway: rules, clocks and extraction (service/pathway/, docs/pathway.md).
    pathway_rules_enabled: bool = Field(
        default=True, description="Run the routing rules (prompts, referral tasks, reviews) inside every write."
    )
    pathway_extract_on_write: bool = Field(
        default=False,
        description="Extract relationship Observations from a completed prompts QuestionnaireResponse in the write that stores it.",
    )
    pathway_clock_check_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How often this process looks for breached pathway clocks; 0 turns the check off.",
    )


class ConfigurationError(Exception):
    """The settings describe a server that cannot run; the message names the variable to fix."""


def load_settings() -> Settings:
    """The settings from the environment; a bad value raises ConfigurationError naming its variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError("; ".join(_described(e) for e in error.errors())) from None


def _described(error: ErrorDetails) -> str:
    field = ".".join(str(part) for part in error["loc"])
    return f"DYAD_{field.upper()}: {error['msg']}"


@lru_cache
def get_settings() -> Settings:
    return load_settings()
