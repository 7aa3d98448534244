"""FHIR operations ($name) at system, type and instance level: a registry and its routes.

A room's API module registers its operations here; the routes only find the handler, read the
input Parameters (query string for GET, body for POST) and hand over.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor

from service.api.context import FhirContext, fhir_base, get_context
from service.api.openapi_bodies import PARAMETERS_BODY
from service.api.outcome import FhirError
from service.api.paths import check_id, check_type
from service.api.requests import read_body
from service.api.responses import check_format
from service.conformance.r4 import is_resource_type
from service.security.access import Access
from service.security.gate import Authenticated, authenticate
from service.security.scopes import Permission


class OperationConvertor(Convertor[str]):
    """Matches `$name` path segments only, so `/Patient/$dyad` never reads as a resource id."""

    regex = r"\$[A-Za-z][A-Za-z0-9\-]*"

    def convert(self, value: str) -> str:
        return value[1:]

    def to_string(self, value: str) -> str:
        return f"${value}"


register_url_convertor("operation", OperationConvertor())


@dataclass
class OperationCall:
    request: Request
    ctx: FhirContext
    access: Access
    base: str
    name: str
    res_type: str | None = None
    res_id: str | None = None
    body: Any = None  # the POSTed JSON: Parameters or, for some operations, a bare resource
    query: list[tuple[str, str]] = field(default_factory=list)

    def parameters(self) -> list[dict[str, Any]]:
        """Input parameters as Parameters.parameter entries, from the body or the query string."""
        if isinstance(self.body, dict) and self.body.get("resourceType") == "Parameters":
            return list(self.body.get("parameter") or [])
        return [{"name": k, "valueString": v} for k, v in self.query if not k.startswith("_")]

    def value(self, name: str) -> Any:
        """The first value of a named parameter (value[x], or its resource)."""
        for parameter in self.parameters():
            if parameter.get("name") == name:
                if "resource" in parameter:
                    return parameter["resource"]
                return next((v for k, v in parameter.items() if k.startswith("value")), None)
        return None


Handler = Callable[[OperationCall], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    levels: frozenset[str]  # system | type | instance
    types: frozenset[str] | None  # None: any type
    definition: str | None = None  # canonical of its OperationDefinition
    idempotent: bool = True  # may be called with GET
    raw_body: bool = False  # the handler reads the body itself (e.g. NDJSON)
    permission: Permission | None = "r"  # scope needed on the type it is called on; None: any caller


_REGISTRY: dict[str, Operation] = {}


def operation(
    name: str,
    *,
    levels: set[str],
    types: set[str] | None = None,
    definition: str | None = None,
    idempotent: bool = True,
    raw_body: bool = False,
    permission: Permission | None = "r",
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _REGISTRY[name] = Operation(
            name,
            handler,
            frozenset(levels),
            frozenset(types) if types else None,
            definition,
            idempotent,
            raw_body,
            permission,
        )
        return handler

    return register


def registered() -> list[Operation]:
    return sorted(_REGISTRY.values(), key=lambda op: op.name)


def _find(name: str, level: str, res_type: str | None, method: str) -> Operation:
    op = _REGISTRY.get(name)
    if op is None or level not in op.levels or (res_type and op.types and res_type not in op.types):
        where = f"{res_type} " if res_type else ""
        raise FhirError(404, f"Operation ${name} is not defined at {where}{level} level", code="not-supported")
    if method == "GET" and not op.idempotent:
        raise FhirError(405, f"Operation ${name} changes data; call it with POST", code="not-supported")
    return op


router = APIRouter(
    prefix="/fhir", tags=["FHIR operations"], dependencies=[Depends(authenticate), Depends(check_format)]
)
Context = Annotated[FhirContext, Depends(get_context)]
Base = Annotated[str, Depends(fhir_base)]


async def _call(
    request: Request,
    ctx: FhirContext,
    access: Access,
    base: str,
    name: str,
    level: str,
    res_type: str | None = None,
    res_id: str | None = None,
) -> Response:
    op = _find(name, level, res_type, request.method)
    request.state.interaction = f"operation-{name}"
    if op.permission is not None:
        access.require(res_type or "*", op.permission)
    body = None
    if request.method == "POST" and not op.raw_body and (await request.body()):
        body = await read_body(request)
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")]
    return await op.handler(OperationCall(request, ctx, access, base, name, res_type, res_id, body, query))


@router.get("/{name:operation}", summary="System-level operation", operation_id="system_operation_get")
@router.post(
    "/{name:operation}",
    summary="System-level operation",
    operation_id="system_operation_post",
    openapi_extra=PARAMETERS_BODY,
)
async def system_operation(request: Request, name: str, ctx: Context, base: Base, access: Authenticated) -> Response:
    return await _call(request, ctx, access, base, name, "system")


@router.get("/{res_type}/{name:operation}", summary="Type-level operation", operation_id="type_operation_get")
@router.post(
    "/{res_type}/{name:operation}",
    summary="Type-level operation",
    operation_id="type_operation_post",
    openapi_extra=PARAMETERS_BODY,
)
async def type_operation(
    request: Request, res_type: str, name: str, ctx: Context, base: Base, access: Authenticated
) -> Response:
    # $validate answers for every R4 resource type (Bundle/$validate included), stored here or not.
    checked = res_type if name == "validate" and is_resource_type(res_type) else check_type(res_type)
    return await _call(request, ctx, access, base, name, "type", checked)


@router.get(
    "/{res_type}/{res_id}/{name:operation}", summary="Instance-level operation", operation_id="instance_operation_get"
)
@router.post(
    "/{res_type}/{res_id}/{name:operation}",
    summary="Instance-level operation",
    operation_id="instance_operation_post",
    openapi_extra=PARAMETERS_BODY,
)
async def instance_operation(
    request: Request, res_type: str, res_id: str, name: str, ctx: Context, base: Base, access: Authenticated
) -> Response:
    check_id(res_id)
    return await _call(request, ctx, access, base, name, "instance", check_type(res_type), res_id)
