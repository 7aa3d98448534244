"""What the store can refuse; each error carries the HTTP status the API answers it with."""

from service.errors import DyadError


class StoreError(DyadError):
    """A refusal of the store's; each kind says its HTTP status and issue code."""


class ResourceNotFound(StoreError):
    status, code = 404, "not-found"

    def __init__(self, res_type: str, res_id: str, version: int | None = None) -> None:
        self.res_type, self.res_id, self.version = res_type, res_id, version
        what = f"{res_type}/{res_id}" + (f"/_history/{version}" if version else "")
        super().__init__(f"{what} is not known")


class ResourceGone(StoreError):
    status, code = 410, "deleted"

    def __init__(self, res_type: str, res_id: str, version: int) -> None:
        self.res_type, self.res_id, self.version = res_type, res_id, version
        super().__init__(f"{res_type}/{res_id} was deleted (version {version})")


class VersionConflict(StoreError):
    """The client's If-Match names a version that is no longer current."""

    status, code = 412, "conflict"

    def __init__(self, res_type: str, res_id: str, expected: int, current: int | None) -> None:
        self.expected, self.current = expected, current
        super().__init__(
            f"{res_type}/{res_id}: If-Match version {expected} is not the current version"
            + (f" ({current})" if current is not None else "")
        )


class NotOwner(StoreError):
    """Only the organisation that owns this resource may change or delete it (a Consent's grants
    are its recorder's word)."""

    status, code = 403, "forbidden"

    def __init__(self, res_type: str, res_id: str) -> None:
        self.res_type, self.res_id = res_type, res_id
        super().__init__(f"Only the organisation that recorded {res_type}/{res_id} may change or delete it")


class IdNotAssignable(StoreError):
    """A restricted resource takes a server-assigned id: a client-chosen one could be probed by
    another organisation (update-as-create answers differently for free and taken ids)."""

    status, code = 422, "business-rule"

    def __init__(self, res_type: str, res_id: str) -> None:
        self.res_type, self.res_id = res_type, res_id
        super().__init__(
            f"A restricted {res_type} cannot be created with a client-assigned id; "
            "create it with POST or a conditional update"
        )


class DuplicateIdentity(StoreError):
    """A second Patient with an NHS number another Patient already holds.

    `holder` is the holder's id when the writer may see it, None when it may not (or when a
    concurrent write took the number first and the holder is not known here).
    """

    status, code = 409, "duplicate"
    expression = "Patient.identifier"

    def __init__(self, holder: str | None) -> None:
        self.holder = holder
        named = f" (Patient/{holder})" if holder else ""
        super().__init__(
            f"Another Patient{named} already holds this NHS number; one person has one Patient record. "
            "Update that record, or use a conditional create (If-None-Exist: identifier=...) to find it"
        )


class NoConnectionFree(StoreError):
    """Every pooled database connection stayed in use for the pool's whole wait."""

    status, code = 503, "transient"

    def __init__(self) -> None:
        super().__init__("The server is busy: no database connection came free in time; retry later")


class StatementTimedOut(StoreError):
    """The database cancelled a statement that ran past DYAD_STATEMENT_TIMEOUT_SECONDS."""

    status, code = 503, "too-costly"

    def __init__(self) -> None:
        super().__init__("The request took longer than the server allows one database statement")
