"""fixed[x] (exactly this value) and pattern[x] (at least this content)."""

from dataclasses import dataclass
from typing import Any

import orjson

from service.conformance.validation.elements import Context


def contains_pattern(value: Any, pattern: Any) -> bool:
    """Whether value has everything pattern has: dict keys recursively, each listed item somewhere."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and contains_pattern(value[key], expected) for key, expected in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains_pattern(item, expected) for item in items) for expected in pattern)
    return value == pattern and type(value) is type(pattern)


@dataclass(frozen=True, slots=True)
class Fixed:
    expected: Any

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if value != self.expected:
            ctx.report(
                "error",
                "value",
                f"{path} must be exactly {_show(self.expected)} (fixed by the profile), but is {_show(value)}",
                path,
            )


@dataclass(frozen=True, slots=True)
class Pattern:
    expected: Any

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if not contains_pattern(value, self.expected):
            ctx.report(
                "error",
                "value",
                f"{path} must contain {_show(self.expected)} (a pattern set by the profile)",
                path,
            )


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()
