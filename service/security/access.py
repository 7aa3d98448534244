"""One request's rights: what the caller's scopes allow, and what its organisation may see."""

from dataclasses import dataclass, field
from typing import Any

from service.errors import DyadError
from service.security.scopes import Permission
from service.security.tokens import Caller
from service.store.access import Viewer


class AccessDenied(DyadError):
    """The scopes do not allow this interaction on this type (answered 403)."""

    status, code = 403, "forbidden"

    def __init__(self, res_type: str, permission: str) -> None:
        self.res_type, self.permission = res_type, permission
        words = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
        super().__init__(f"The token's scopes do not allow {words.get(permission, permission)} on {res_type}")


@dataclass(frozen=True)
class Access:
    caller: Caller
    viewer: Viewer
    # Facts looked up once per request (e.g. whether the caller's organisation writes restricted).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, caller: Caller) -> "Access":
        """An authenticated caller sees what its organisation may; with DYAD_AUTH=off every
        caller is the server (an explicit development choice, logged loudly at start)."""
        if not caller.authenticated:
            return cls(caller, Viewer.system())
        return cls(caller, Viewer(caller.organization, caller.purpose_of_use))

    @classmethod
    def internal(cls) -> "Access":
        """The server acting for itself (start-up, background work): every right, every record."""
        return cls(Caller.local_unauthenticated(), Viewer.system())

    @property
    def organization(self) -> str | None:
        return self.caller.organization

    def may(self, res_type: str, permission: Permission) -> bool:
        return self.caller.scopes.allows(res_type, permission)

    def require(self, res_type: str, permission: Permission) -> None:
        if not self.may(res_type, permission):
            raise AccessDenied(res_type, permission)
