"""The real app with its parts in reach, for tests that run the clock check themselves."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from service.api.context import FhirContext
from service.app import create_app
from service.config import Settings


@dataclass
class RunningApp:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def fhir(self) -> FhirContext:
        context: FhirContext = self.app.state.fhir
        return context


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[RunningApp]:
    # The periodic check is off: tests run it at the instant they choose.
    app = create_app(settings.model_copy(update={"pathway_clock_check_seconds": 0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyad.test") as http:
            yield RunningApp(app, http)
