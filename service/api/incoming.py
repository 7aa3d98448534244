"""A resource arriving in a request body: read, parsed, and checked before any write."""

from typing import Annotated, Any

from fastapi import Depends, Request

from service.api.context import FhirContext, get_context
from service.api.paths import ResourceType
from service.api.requests import read_body


async def incoming_resource(
    request: Request, res_type: ResourceType, ctx: Annotated[FhirContext, Depends(get_context)]
) -> dict[str, Any]:
    """The body, if it is a resource that may be stored: 400 for bad structure, 422 for rules."""
    return ctx.admission.admit(await read_body(request), res_type)


IncomingResource = Annotated[dict[str, Any], Depends(incoming_resource)]
