"""Every source system under mappings/, by name."""

from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from service.conformance.package import load_package
from service.mapping.system import MappingSystem

SHARED_FOLDER = "_shared"


class MappingCatalog:
    def __init__(self, systems: dict[str, MappingSystem]) -> None:
        self._systems = systems

    @classmethod
    def load(cls, root: Path, profiles: Path | None = None) -> "MappingCatalog":
        """Each folder of `root` with a mapping.json is a system.

        `_shared/conceptmaps/` holds ConceptMaps every system uses; Dyad's own CodeSystems come
        from the implementation guide (`profiles/`, beside `mappings/` unless given) for displays.
        """
        code_systems = load_package(profiles or root.parent / "profiles").of_type("CodeSystem")
        shared = [_read(p) for p in sorted((root / SHARED_FOLDER / "conceptmaps").glob("*.json"))]
        systems: dict[str, MappingSystem] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
            if (folder / "mapping.json").is_file():
                system = MappingSystem(folder, shared, code_systems)
                systems[system.name] = system
        return cls(systems)

    def names(self) -> list[str]:
        return sorted(self._systems)

    def system(self, name: str) -> MappingSystem:
        try:
            return self._systems[name]
        except KeyError:
            raise KeyError(f"no mapping for system '{name}' (known: {', '.join(self.names())})") from None


@lru_cache(maxsize=4)
def loaded_catalog(root: Path, profiles: Path) -> MappingCatalog:
    """One compiled catalog per process: the server and its tests build many apps from it."""
    return MappingCatalog.load(root, profiles)


def _read(path: Path) -> Any:
    return orjson.loads(path.read_bytes())
