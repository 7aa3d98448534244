"""The guide's FHIR NPM package, served the way a package registry serves one."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from service.api.context import FhirContext, get_context
from service.api.outcome import FhirError
from service.conformance.npm_package import build_package, package_name_and_version, tarball

router = APIRouter(prefix="/packages", tags=["implementation guide"])

Context = Annotated[FhirContext, Depends(get_context)]


@lru_cache(maxsize=4)
def _tarball(profiles_dir: Path) -> bytes:
    return tarball(build_package(profiles_dir))


def _known(ctx: FhirContext, name: str) -> str:
    package, version = package_name_and_version(ctx.settings.profiles_dir)
    if name != package:
        raise FhirError(404, f"No package named {name!r} here", code="not-found")
    return version


@router.get("/{name}", summary="Package metadata, as a FHIR package registry lists it")
async def package_metadata(name: str, request: Request, ctx: Context) -> JSONResponse:
    version = _known(ctx, name)
    url = str(request.url_for("package_tarball", name=name, version=version))
    return JSONResponse(
        {
            "_id": name,
            "name": name,
            "dist-tags": {"latest": version},
            "versions": {version: {"name": name, "version": version, "fhirVersion": "R4", "url": url}},
        }
    )


@router.get("/{name}/{version}", summary="The package tarball", name="package_tarball")
async def package_tarball(name: str, version: str, ctx: Context) -> Response:
    if version != _known(ctx, name):
        raise FhirError(404, f"No version {version!r} of {name}", code="not-found")
    return Response(_tarball(ctx.settings.profiles_dir), media_type="application/tar+gzip")
