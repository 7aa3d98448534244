"""What the store can refuse; the API turns each into an HTTP status."""


class StoreError(Exception):
    pass


class ResourceNotFound(StoreError):
    def __init__(self, res_type: str, res_id: str, version: int | None = None) -> None:
        self.res_type, self.res_id, self.version = res_type, res_id, version
        what = f"{res_type}/{res_id}" + (f"/_history/{version}" if version else "")
        super().__init__(f"{what} is not known")


class ResourceGone(StoreError):
    def __init__(self, res_type: str, res_id: str, version: int) -> None:
        self.res_type, self.res_id, self.version = res_type, res_id, version
        super().__init__(f"{res_type}/{res_id} was deleted (version {version})")


class VersionConflict(StoreError):
    """The client's If-Match names a version that is no longer current."""

    def __init__(self, res_type: str, res_id: str, expected: int, current: int | None) -> None:
        self.expected, self.current = expected, current
        super().__init__(
            f"{res_type}/{res_id}: If-Match version {expected} is not the current version"
            + (f" ({current})" if current is not None else "")
        )


class StatementTimedOut(StoreError):
    """The database cancelled a statement that ran past DYAD_STATEMENT_TIMEOUT_SECONDS."""

    def __init__(self) -> None:
        super().__init__("The request took longer than the server allows one database statement")
