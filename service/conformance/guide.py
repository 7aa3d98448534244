"""The implementation guide loaded and compiled: package, search registry, terminology, validator.

Compiling takes seconds, so a process compiles one guide once, whatever number of apps it
builds from it (the test suite builds hundreds).
"""

from dataclasses import dataclass
from pathlib import Path

from service.conformance.package import ProfilePackage, load_package
from service.conformance.terminology import Terminology
from service.conformance.validation import Validator
from service.search.registry import SearchRegistry


@dataclass(frozen=True)
class CompiledGuide:
    package: ProfilePackage
    registry: SearchRegistry
    terminology: Terminology
    validator: Validator


_compiled: dict[tuple[Path, str], CompiledGuide] = {}


def compiled_guide(profiles_dir: Path, mappings_dir: Path | None = None) -> CompiledGuide:
    package = load_package(profiles_dir, mappings_dir)
    key = (profiles_dir.resolve(), package.digest)
    if key not in _compiled:
        terminology = Terminology(package)
        _compiled[key] = CompiledGuide(
            package=package,
            registry=SearchRegistry.from_definitions(package.search_parameters()),
            terminology=terminology,
            validator=Validator(package, profiles_dir=profiles_dir, terminology=terminology),
        )
    return _compiled[key]
