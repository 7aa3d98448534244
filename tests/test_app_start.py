"""What start-up leaves alive is kept out of the garbage collector's work, and given back at shutdown."""

import gc

from service.app import create_app
from service.config import Settings


async def test_start_up_objects_are_frozen_while_the_app_runs_and_unfrozen_after(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, auth="off", gc_freeze_after_start=True))
    async with app.router.lifespan_context(app):
        frozen_while_running = gc.get_freeze_count()
    assert frozen_while_running > 0
    assert gc.get_freeze_count() == 0
