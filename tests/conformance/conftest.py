"""The real implementation guide, loaded and compiled once for the conformance tests."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from service.config import PROJECT_ROOT
from service.conformance.package import ProfilePackage, load_package
from service.conformance.terminology import Terminology
from service.conformance.validation import Validator

PROFILES = PROJECT_ROOT / "profiles"
EXAMPLES = PROFILES / "examples"
INVALID = EXAMPLES / "invalid"


def example(name: str) -> dict[str, Any]:
    return copy.deepcopy(_read(EXAMPLES / name))


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def package() -> ProfilePackage:
    return load_package(PROFILES)


@pytest.fixture(scope="session")
def terminology(package: ProfilePackage) -> Terminology:
    return Terminology(package)


@pytest.fixture(scope="session")
def validator(package: ProfilePackage, terminology: Terminology) -> Validator:
    return Validator(package, profiles_dir=PROFILES, terminology=terminology)
