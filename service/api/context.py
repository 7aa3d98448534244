"""What every request handler needs, built once at start and injected with Depends."""

from dataclasses import dataclass

from fastapi import Request

from service.config import Settings
from service.conformance.admission import Admission
from service.conformance.package import ProfilePackage
from service.conformance.terminology import Terminology
from service.mapping.catalog import MappingCatalog
from service.search.registry import SearchRegistry
from service.store.database import Database
from service.store.repository import ResourceRepository
from service.store.search_statements import SearchStatements


@dataclass
class FhirContext:
    settings: Settings
    db: Database
    repository: ResourceRepository
    registry: SearchRegistry
    package: ProfilePackage
    terminology: Terminology
    admission: Admission
    mappings: MappingCatalog
    search_statements: SearchStatements  # REST searches' SQL, kept per shape of query and viewer


async def get_context(request: Request) -> FhirContext:
    context: FhirContext = request.app.state.fhir
    return context


async def fhir_base(request: Request) -> str:
    """The absolute base of the FHIR endpoint, as links and Location headers use it."""
    configured: str = request.app.state.fhir.settings.base_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/") + "/fhir"
