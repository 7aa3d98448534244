"""A resource arriving in a request body: read, parsed, and checked before any write."""

from typing import Annotated, Any

from fastapi import Depends, Request

from service.api.paths import ResourceType
from service.api.requests import read_body
from service.conformance.parse import check_resource


async def incoming_resource(request: Request, res_type: ResourceType) -> dict[str, Any]:
    return check_resource(await read_body(request), res_type)


IncomingResource = Annotated[dict[str, Any], Depends(incoming_resource)]
