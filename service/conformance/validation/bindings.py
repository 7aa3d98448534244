"""Terminology bindings: required codes are errors, extensible ones warnings.

Preferred and example bindings are not compiled at all: they never produce an issue.
Whether a code is a member is read from the Terminology's precomputed member sets; a code
Dyad cannot decide (its system is not held) is reported as information, never as valid or
invalid.
"""

from dataclasses import dataclass, field
from typing import Any

from service.conformance.terminology import Terminology
from service.conformance.validation.elements import Context

_SEVERITY = {"required": "error", "extensible": "warning"}


@dataclass(frozen=True, slots=True)
class Binding:
    valueset: str
    strength: str  # required | extensible
    terminology: Terminology
    # Codings already found valid here: (system, code, display). Bounded by the value set's
    # members and their known displays; anything else is asked afresh, never remembered.
    known_good: set[tuple[str | None, str, str | None]] = field(default_factory=set, compare=False)

    def __call__(self, value: Any, path: str, ctx: Context) -> None:
        if self.terminology.valueset(self.valueset) is None:
            ctx.report(
                "information",
                "informational",
                f"{path} is bound to {self.valueset}, which Dyad does not hold: not checked",
                path,
            )
            return
        if isinstance(value, str):
            self._check_codings([(None, value, None)], path, ctx, has_text=False)
        elif isinstance(value, dict):
            if "coding" in value or "text" in value:
                codings = [
                    (c.get("system"), c.get("code"), c.get("display"))
                    for c in value.get("coding") or []
                    if isinstance(c, dict)
                ]
                self._check_codings(codings, path, ctx, has_text=bool(value.get("text")))
            elif "code" in value or "system" in value:
                self._check_codings(
                    [(value.get("system"), value.get("code"), value.get("display"))], path, ctx, has_text=False
                )

    def _check_codings(
        self,
        codings: list[tuple[str | None, str | None, str | None]],
        path: str,
        ctx: Context,
        *,
        has_text: bool,
    ) -> None:
        undecided: list[str] = []
        rejected: list[str] = []
        for system, code, display in codings:
            if not isinstance(code, str):
                continue
            if (system, code, display) in self.known_good:
                return
            answer = self.terminology.validate_code(self.valueset, system, code, display)
            if answer.result is True:
                if not answer.display_ok:
                    ctx.report("warning", "code-invalid", answer.message, path)
                else:
                    self.known_good.add((system, code, display))
                return
            (undecided if answer.result is None else rejected).append(answer.message)
        if undecided:
            ctx.report("information", "informational", "; ".join(undecided), path)
            return
        if not rejected and has_text and self.strength == "extensible":
            return  # extensible bindings allow text alone when no code fits
        severity = _SEVERITY[self.strength]
        detail = "; ".join(rejected) if rejected else "no code is given"
        ctx.report(
            severity,
            "code-invalid",
            f"{path} must have a code from {self.valueset} ({self.strength} binding): {detail}",
            path,
        )
