"""Path parameters checked once: the resource type, the id, the version."""

import re
from typing import Annotated

from fastapi import Depends, Path

from service.api.openapi_bodies import ID_PATTERN, TYPE_ENUM
from service.api.outcome import FhirError
from service.conformance.supported import SUPPORTED_TYPES

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


# Dependencies are `async def` so FastAPI runs them on the event loop, not in a thread.


async def resource_type(
    res_type: Annotated[str, Path(description="A FHIR resource type", json_schema_extra=TYPE_ENUM)],
) -> str:
    return check_type(res_type)


def check_type(res_type: str) -> str:
    if res_type not in SUPPORTED_TYPES:
        raise FhirError(404, f"Resource type '{res_type}' is not supported by this server", code="not-supported")
    return res_type


async def resource_id(res_id: Annotated[str, Path(description="The logical id", json_schema_extra=ID_PATTERN)]) -> str:
    check_id(res_id)
    return res_id


def check_id(res_id: str) -> None:
    if not _ID.match(res_id):
        raise FhirError(400, f"'{res_id}' is not a valid FHIR id", code="invalid")


async def version_id(vid: Annotated[str, Path(description="The version id")]) -> int:
    # Versions are counted in 32 bits; a longer number names none and must not reach the SQL.
    if not vid.isdigit() or int(vid) > 2**31 - 1:
        raise FhirError(404, f"Version '{vid}' does not exist", code="not-found")
    return int(vid)


ResourceType = Annotated[str, Depends(resource_type)]
ResourceId = Annotated[str, Depends(resource_id)]
VersionId = Annotated[int, Depends(version_id)]
