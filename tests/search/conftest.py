"""The registry of the real implementation guide, built once for the search unit tests."""

import pytest

from service.config import PROJECT_ROOT
from service.conformance.package import load_package
from service.search.registry import SearchRegistry


@pytest.fixture(scope="session")
def registry() -> SearchRegistry:
    return SearchRegistry.from_definitions(load_package(PROJECT_ROOT / "profiles").search_parameters())
