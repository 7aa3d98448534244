"""_count, _offset and _since for history interactions."""

from datetime import datetime

from fastapi import Request

from service.api.outcome import FhirError
from service.config import Settings
from service.search.query import MAX_QUERY_INTEGER


def page_size(request: Request, settings: Settings) -> tuple[int, int]:
    count = _non_negative(request, "_count", settings.default_page_size)
    offset = _non_negative(request, "_offset", 0)
    return min(count, settings.max_page_size), offset


def history_params(request: Request, settings: Settings) -> tuple[int, int, datetime | None]:
    count, offset = page_size(request, settings)
    since_text = request.query_params.get("_since")
    since = None
    if since_text:
        try:
            since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
        except ValueError:
            raise FhirError(400, f"_since must be an instant, not {since_text!r}", code="invalid") from None
    return count, offset, since


def _non_negative(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise FhirError(400, f"{name} must be a non-negative integer", code="invalid")
    if int(text) > MAX_QUERY_INTEGER:
        raise FhirError(400, f"{name} must be at most {MAX_QUERY_INTEGER}", code="invalid")
    return int(text)
