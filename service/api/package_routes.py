"""The guide's FHIR NPM package, served the way a package registry serves one."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from service.api.context import FhirContext, get_context
from service.api.outcome import FhirError
from service.conformance.npm_package import build_package, checksums, package_name_and_version, tarball

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


@router.get("/{name}", summary="Package metadata, as an NPM (and FHIR) package registry lists it")
async def package_metadata(name: str, request: Request, ctx: Context) -> JSONResponse:
    """`versions[v].dist.tarball` is where npm, SUSHI and fhir-package-loader fetch the .tgz from."""
    version = _known(ctx, name)
    tarball_url = str(request.url_for("package_tarball_npm", name=name, file=f"{name}-{version}.tgz"))
    manifest = orjson.loads(build_package(ctx.settings.profiles_dir)["package/package.json"])
    dist = {"tarball": tarball_url, **checksums(_tarball(ctx.settings.profiles_dir))}
    return JSONResponse(
        {
            "_id": name,
            "name": name,
            "description": manifest.get("description", ""),
            "dist-tags": {"latest": version},
            "versions": {
                version: {
                    **manifest,
                    "_id": f"{name}@{version}",
                    "fhirVersion": "R4",
                    "url": tarball_url,
                    "dist": dist,
                }
            },
        }
    )


@router.get("/{name}/{version}", summary="The package tarball (FHIR registry path)", name="package_tarball")
async def package_tarball(name: str, version: str, ctx: Context) -> Response:
    if version != _known(ctx, name):
        raise FhirError(404, f"No version {version!r} of {name}", code="not-found")
    return Response(_tarball(ctx.settings.profiles_dir), media_type="application/tar+gzip")


@router.get("/{name}/-/{file}", summary="The package tarball (NPM registry path)", name="package_tarball_npm")
async def package_tarball_npm(name: str, file: str, ctx: Context) -> Response:
    version = _known(ctx, name)
    if file != f"{name}-{version}.tgz":
        raise FhirError(404, f"No file {file!r} for {name}", code="not-found")
    return Response(_tarball(ctx.settings.profiles_dir), media_type="application/octet-stream")
