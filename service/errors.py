"""One hierarchy for every refusal: each error carries its HTTP status and FHIR issue code.

The API renders any DyadError as an OperationOutcome with its own status, so no list of
exception types has to be kept in step with the rooms that raise them.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem, in the terms an OperationOutcome issue needs."""

    severity: str  # fatal | error | warning | information
    code: str  # FHIR issue-type: structure, required, value, invariant, code-invalid, ...
    message: str
    expression: str | None = None


class DyadError(Exception):
    """A request Dyad refuses, or cannot serve, for a reason it can name."""

    status: int = 500
    code: str = "exception"
    expression: str | None = None

    def outcome(self) -> list[Issue]:
        """The issues of the OperationOutcome that answers this error."""
        return [Issue("error", self.code, str(self), self.expression)]
