"""Visibility rules the store applies whoever writes: derived records inherit a restriction."""

from typing import Any

import pytest

from service.config import PROJECT_ROOT
from service.conformance.package import load_package
from service.search.registry import SearchRegistry
from service.store.access import Viewer
from service.store.database import Database
from service.store.errors import ResourceNotFound
from service.store.repository import ResourceRepository
from service.store.search import SearchIndexer

PMH, HV = "Organization/pmh-team", "Organization/hv-team"
RESTRICTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    "code": "R",
    "display": "restricted",
}


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry.from_definitions(list(load_package(PROJECT_ROOT / "profiles").search_parameters()))


@pytest.fixture
def repository(registry: SearchRegistry) -> ResourceRepository:
    return ResourceRepository(SearchIndexer(registry))


def _task() -> dict[str, Any]:
    return {"resourceType": "Task", "status": "requested", "intent": "order", "meta": {"security": [RESTRICTED]}}


def _breach_notice(task_id: str) -> dict[str, Any]:
    return {"resourceType": "Communication", "status": "completed", "about": [{"reference": f"Task/{task_id}"}]}


async def test_a_communication_the_server_writes_about_a_restricted_task_is_restricted_to_its_owner(
    database: Database, repository: ResourceRepository
) -> None:
    async with database.write() as conn:
        task = await repository.create(conn, _task(), owner_org=PMH)
        notice = await repository.create(conn, _breach_notice(task.res_id))  # the server's, no owner
        unrelated = await repository.create(conn, _breach_notice("not-restricted"))
    assert notice.content is not None and RESTRICTED in notice.content["meta"]["security"]
    assert unrelated.content is not None and "security" not in unrelated.content.get("meta", {})
    async with database.read() as conn:
        assert (await repository.read(conn, "Communication", notice.res_id, viewer=Viewer(PMH))).res_id == notice.res_id
        with pytest.raises(ResourceNotFound):
            await repository.read(conn, "Communication", notice.res_id, viewer=Viewer(HV))
