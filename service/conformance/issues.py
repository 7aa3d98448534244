"""A problem found in a resource, in the terms an OperationOutcome issue needs."""

from service.errors import DyadError, Issue

__all__ = ["InvalidResource", "Issue", "within_entry"]


def within_entry(issue: Issue, prefix: str) -> Issue:
    """The issue of a resource inside a Bundle entry, located from the Bundle (prefix:
    'Bundle.entry[2]'), its path said once: Observation.code.text becomes
    Bundle.entry[2].resource.code.text in the expression and in the message."""
    expression = issue.expression
    head = (expression or "").split(".", 1)[0].split("[", 1)[0]
    if not expression:
        located = prefix
    elif expression.startswith(prefix):
        located = expression
    elif head[:1].isupper():
        located = f"{prefix}.resource{expression[len(head) :]}"
    else:
        located = f"{prefix}.resource.{expression}"
    message = issue.message
    if message.startswith(prefix):
        pass
    elif head[:1].isupper() and message.startswith(head) and message[len(head) : len(head) + 1] in (".", ":", "["):
        message = f"{prefix}.resource{message[len(head) :]}"
    else:
        message = f"{prefix}: {message}"
    return Issue(issue.severity, issue.code, message, located)


class InvalidResource(DyadError):
    """The request's resource cannot be accepted; carries every issue found."""

    def __init__(self, issues: list[Issue], *, status: int = 400) -> None:
        self.issues = issues
        self.status = status
        super().__init__("; ".join(issue.message for issue in issues))

    def outcome(self) -> list[Issue]:
        return self.issues
