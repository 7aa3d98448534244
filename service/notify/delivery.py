"""One rest-hook notification as an HTTP request, and what came of sending it."""

from dataclasses import dataclass

import httpx
import orjson

from service.notify.claims import PendingEvent
from service.notify.subscriptions import FHIR_JSON, PayloadContent, Subscriber

EVENT_ID_HEADER = "X-Dyad-Event-Id"
SUBSCRIPTION_HEADER = "X-Dyad-Subscription"
INTERACTION_HEADER = "X-Dyad-Interaction"
# Longest error text kept on an event or written to Subscription.error.
_MAX_ERROR = 300


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    status: int | None
    error: str | None


def build_request(
    subscriber: Subscriber, event: PendingEvent, *, fhir_base: str
) -> tuple[dict[str, str], bytes | None]:
    """Headers and body of the POST to channel.endpoint.

    `empty` sends no body and does not name the resource; `id-only` names it in Content-Location;
    `full-resource` also sends it as the body (a deleted version has none to send).
    """
    headers = dict(subscriber.headers)
    headers[EVENT_ID_HEADER] = event.event_id
    headers[SUBSCRIPTION_HEADER] = f"Subscription/{subscriber.sub_id}"
    body = None
    if subscriber.content is not PayloadContent.EMPTY:
        headers[INTERACTION_HEADER] = event.interaction
        headers["Content-Location"] = _version_url(fhir_base, event)
    if subscriber.content is PayloadContent.FULL_RESOURCE and event.content is not None:
        headers["Content-Type"] = FHIR_JSON
        body = orjson.dumps(event.content)
    return headers, body


def _version_url(fhir_base: str, event: PendingEvent) -> str:
    path = f"{event.res_type}/{event.res_id}/_history/{event.version}"
    return f"{fhir_base.rstrip('/')}/{path}" if fhir_base else path


async def send(client: httpx.AsyncClient, subscriber: Subscriber, event: PendingEvent, *, fhir_base: str) -> Attempt:
    headers, body = build_request(subscriber, event, fhir_base=fhir_base)
    try:
        response = await client.post(subscriber.endpoint, headers=headers, content=body)
    except httpx.HTTPError as exc:
        # The exception text names the endpoint at most, never the resource.
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR] or type(exc).__name__)
    if 200 <= response.status_code < 300:
        return Attempt(True, response.status_code, None)
    return Attempt(False, response.status_code, f"endpoint answered HTTP {response.status_code}")
