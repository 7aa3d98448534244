"""What a mapping hands back: the output, the issues, and what the target could not hold."""

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class MappingIssue:
    """A problem named in the source's own terms (field names of the record or FHIR paths)."""

    severity: Severity
    code: str  # OperationOutcome issue type: invalid, code-invalid, required, not-supported...
    field: str | None
    message: str
    value: str | None = None
    conceptmap: str | None = None

    def as_outcome_issue(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.message,
        }
        if self.field:
            issue["expression"] = [self.field]
        return issue


@dataclass(frozen=True, slots=True)
class Unmappable:
    """Something the source held that the target cannot: listed, never silently dropped."""

    field: str  # where it was, in the source's terms
    reason: str
    values: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "reason": self.reason, "values": list(self.values)}


@dataclass(slots=True)
class MappingResult:
    bundle: dict[str, Any] | None = None  # to_fhir: the transaction Bundle
    record: dict[str, Any] | None = None  # from_fhir: the system's record
    issues: list[MappingIssue] = field(default_factory=list)
    unmappable: list[Unmappable] = field(default_factory=list)
    # Source fields held by a wider/narrower concept, which may come back as another code.
    approximate: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    def operation_outcome(self) -> dict[str, Any]:
        issues = [i.as_outcome_issue() for i in self.issues]
        issues += [
            {
                "severity": "information",
                "code": "not-supported",
                "diagnostics": f"{u.field}: {u.reason}" + (f" ({', '.join(u.values)})" if u.values else ""),
                "expression": [u.field],
            }
            for u in self.unmappable
        ]
        if not issues:
            issues = [{"severity": "information", "code": "informational", "diagnostics": "mapped"}]
        return {"resourceType": "OperationOutcome", "issue": issues}
