"""OperationOutcome, and the error every refusal is raised as."""

from typing import Any

from service.conformance.issues import Issue
from service.errors import DyadError


class FhirError(DyadError):
    """A refusal with an HTTP status; rendered as an OperationOutcome."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "processing",
        expression: str | None = None,
        issues: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.issues = issues or [Issue("error", code, message, expression)]
        self.headers = headers or {}
        super().__init__(message)

    def outcome(self) -> list[Issue]:
        return self.issues


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [_issue_json(i) for i in issues]}


def information(message: str) -> dict[str, Any]:
    return operation_outcome([Issue("information", "informational", message)])


def _issue_json(issue: Issue) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "severity": issue.severity,
        "code": issue.code,
        "diagnostics": issue.message,
    }
    if issue.expression:
        entry["expression"] = [issue.expression]
    return entry
