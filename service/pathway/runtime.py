"""The pathway in one server process: its listener (built before the repository) and its clock check.

Shaped like service.notify.runtime.Notifications, so the app wires both the same way.
"""

from service.config import Settings
from service.conformance.admission import Admission
from service.pathway.breaches import clock_check
from service.pathway.context import PathwayOptions
from service.pathway.extraction import Extractor
from service.pathway.listener import PathwayListener
from service.pathway.routing import load_rules
from service.periodic import Periodic
from service.search.registry import SearchRegistry
from service.store.database import Database
from service.store.repository import ResourceRepository


class Pathway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.extractor: Extractor | None = None
        self._listener: PathwayListener | None = None
        self.clock_check: Periodic | None = None

    def listener(self, registry: SearchRegistry, admission: Admission) -> PathwayListener:
        self.extractor = Extractor(admission)
        options = PathwayOptions(self.settings.pathway_rules_enabled, self.settings.pathway_extract_on_write)
        self._listener = PathwayListener(registry, load_rules(), self.extractor, options)
        return self._listener

    def bind(self, db: Database, repository: ResourceRepository) -> None:
        assert self._listener is not None, "listener() first"
        self._listener.bind(repository)
        self.clock_check = clock_check(
            db, repository, self._listener.registry, self.settings.pathway_clock_check_seconds
        )

    def start(self) -> None:
        assert self.clock_check is not None, "bind() first"
        self.clock_check.start()

    async def stop(self) -> None:
        if self.clock_check is not None:
            await self.clock_check.stop()
