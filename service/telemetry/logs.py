"""JSON logs, one object a line, each carrying the request id.

Only fields named here are written: no message argument is interpolated from request data, so
neither identifiers nor clinical content can reach the log through a formatted string.
"""

import contextvars
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Extra fields a log call may attach; anything else passed in `extra` is dropped.
ALLOWED_FIELDS = (
    "method",
    "route",
    "status",
    "duration_ms",
    "interaction",
    "resource_type",
    "error_type",
    "written",
    "database",
    "host",
    "port",
    "auth",
    "traceback",
    "pending",
)

# Loggers of the server's own machinery (start-up, migrations) whose messages are formatted from
# their arguments: they carry addresses and revisions, never request data.
FORMATTED_LOGGERS = ("uvicorn.error", "alembic")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": _event(record),
        }
        current = request_id.get()
        if current:
            entry["request_id"] = current
        for name in ALLOWED_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None and "error_type" not in entry:
            # The exception's type only: its message and traceback can quote the request's data.
            entry["error_type"] = record.exc_info[0].__name__
        if record.exc_info and record.exc_info[2] is not None:
            entry["traceback"] = frames(record.exc_info[2])
        return orjson.dumps(entry, default=str).decode()


def _event(record: logging.LogRecord) -> str:
    if not isinstance(record.msg, str):
        return type(record.msg).__name__
    if record.args and record.name.startswith(FORMATTED_LOGGERS):
        return record.getMessage()
    return record.msg


def frames(tb: TracebackType) -> list[str]:
    """Where an exception passed, as file:line in function: what an operator needs, and no values.

    The exception's message and the source lines are left out: either can quote the request.
    """
    summary = traceback.StackSummary.extract(traceback.walk_tb(tb), lookup_lines=False)
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in summary]


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log prints full URLs, and search URLs can carry NHS numbers.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
