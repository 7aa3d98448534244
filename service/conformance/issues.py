"""A problem found in a resource, in the terms an OperationOutcome issue needs."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # FHIR issue-type: structure, required, value, invariant, code-invalid, ...
    message: str
    expression: str | None = None


class InvalidResource(Exception):
    """The request's resource cannot be accepted; carries every issue found."""

    def __init__(self, issues: list[Issue], *, status: int = 400) -> None:
        self.issues = issues
        self.status = status
        super().__init__("; ".join(issue.message for issue in issues))
