"""What Dyad reads from an R4 Subscription: criteria, where to deliver and what to send."""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from service.conformance.issues import InvalidResource, Issue
from service.conformance.supported import SUPPORTED_TYPES
from service.search.query import SearchError, SearchQuery, parse_search
from service.search.registry import SearchRegistry
from service.search.values import parse_instant
from service.store.access import Viewer

PAYLOAD_CONTENT_URL = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"
FHIR_JSON = "application/fhir+json"
_JSON_PAYLOADS = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
# `error` is the server's own verdict on delivery, not the client's wish to stop: such a
# subscription keeps queueing, so that nothing is lost while its endpoint is down.
QUEUEING_STATUSES = frozenset({"requested", "active", "error"})
# Headers a subscriber may not set: hop-by-hop and framing headers (which could split or smuggle
# the request, or send it to another virtual host) and the ones Dyad writes itself.
SERVER_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "content-type",
        "content-encoding",
        "content-location",
    }
)


class PayloadContent(Enum):
    EMPTY = "empty"
    ID_ONLY = "id-only"
    FULL_RESOURCE = "full-resource"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An R4 rest-hook Subscription as the outbox and the worker use it."""

    sub_id: str
    version: int
    status: str
    res_type: str
    criteria: SearchQuery
    criteria_key: str  # the same for subscriptions whose criteria are the same search
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    content: PayloadContent
    end: datetime | None
    # The organisation that created the Subscription: it is told only of what it may see.
    owner_org: str | None = None

    @property
    def matches_every_change(self) -> bool:
        return not self.criteria.filters

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.owner_org)

    def queues(self, now: datetime) -> bool:
        """Whether a change now should be queued for this subscription."""
        return self.status in QUEUEING_STATUSES and (self.end is None or self.end > now)


def read_subscriber(
    registry: SearchRegistry, resource: dict[str, Any], version: int, owner_org: str | None = None
) -> Subscriber:
    """The Subscription's delivery settings; InvalidResource (422) lists what Dyad cannot honour."""
    channel = resource.get("channel") or {}
    problems: list[Issue] = []
    if channel.get("type") != "rest-hook":
        problems.append(_issue("Only rest-hook subscriptions are supported", "Subscription.channel.type"))
    endpoint = str(channel.get("endpoint") or "")
    if urlsplit(endpoint).scheme not in ("http", "https"):
        problems.append(_issue("channel.endpoint must be an http(s) URL", "Subscription.channel.endpoint"))
    headers = _headers(channel.get("header") or [], problems)
    content = _payload_content(channel, problems)
    res_type, criteria = _criteria(registry, str(resource.get("criteria") or ""), problems)
    if problems:
        raise InvalidResource(problems, status=422)
    return Subscriber(
        sub_id=str(resource["id"]),
        version=version,
        status=str(resource.get("status") or ""),
        res_type=res_type,
        criteria=criteria,
        criteria_key=_criteria_key(res_type, criteria),
        endpoint=endpoint,
        headers=headers,
        content=content,
        end=parse_instant(resource.get("end")),
        owner_org=owner_org,
    )


def _issue(message: str, expression: str) -> Issue:
    return Issue("error", "not-supported", message, expression)


def _headers(raw: list[Any], problems: list[Issue]) -> tuple[tuple[str, str], ...]:
    headers = []
    for entry in raw:
        name, colon, value = str(entry).partition(":")
        name = name.strip()
        # A name with spaces or control characters would let a header value smuggle a request.
        if (
            not colon
            or not name
            or not name.isascii()
            or any(c in name for c in " \t\r\n")
            or "\n" in value
            or "\r" in value
        ):
            problems.append(_issue(f"channel.header '{name}' is not 'Name: value'", "Subscription.channel.header"))
            continue
        if name.lower() in SERVER_HEADERS or name.lower().startswith("x-dyad-"):
            problems.append(
                _issue(
                    f"channel.header may not set '{name}': Dyad frames the request itself",
                    "Subscription.channel.header",
                )
            )
            continue
        headers.append((name, value.strip()))
    return tuple(headers)


def _payload_content(channel: dict[str, Any], problems: list[Issue]) -> PayloadContent:
    """R4 `payload` absent means an empty notification; the backport extension can narrow it."""
    payload = channel.get("payload")
    if payload is None:
        return PayloadContent.EMPTY
    if payload not in _JSON_PAYLOADS:
        problems.append(
            _issue(f"channel.payload '{payload}' is not supported; use {FHIR_JSON}", "Subscription.channel.payload")
        )
        return PayloadContent.EMPTY
    for extension in channel.get("_payload", {}).get("extension", []):
        if extension.get("url") == PAYLOAD_CONTENT_URL:
            try:
                return PayloadContent(extension.get("valueCode"))
            except ValueError:
                problems.append(
                    _issue(
                        "backport-payload-content must be empty, id-only or full-resource",
                        "Subscription.channel.payload",
                    )
                )
    return PayloadContent.FULL_RESOURCE


def split_criteria(criteria: str) -> tuple[str, list[tuple[str, str]]]:
    """A criteria URL (relative, or absolute on this server's base) as its type and parameters."""
    res_type, _, query_string = criteria.partition("?")
    return res_type.strip().rsplit("/", 1)[-1], parse_qsl(query_string, keep_blank_values=True)


def _criteria(registry: SearchRegistry, criteria: str, problems: list[Issue]) -> tuple[str, SearchQuery]:
    res_type, items = split_criteria(criteria)
    if res_type not in SUPPORTED_TYPES:
        problems.append(
            _issue(
                "criteria must be a search URL on a stored type, such as Observation?code=...", "Subscription.criteria"
            )
        )
        return res_type, SearchQuery(res_type=res_type)
    try:
        query = parse_search(registry, res_type, items, strict=True)
    except SearchError as exc:
        problems.append(_issue(f"criteria: {exc}", "Subscription.criteria"))
        return res_type, SearchQuery(res_type=res_type)
    if query.sort or query.includes or query.revincludes or query.count is not None or query.offset:
        problems.append(_issue("criteria may only filter (no _sort, _count, _include...)", "Subscription.criteria"))
    return res_type, query


def _criteria_key(res_type: str, criteria: SearchQuery) -> str:
    return res_type + "?" + "&".join(f"{k}={v}" for k, v in sorted(criteria.link_params()))
