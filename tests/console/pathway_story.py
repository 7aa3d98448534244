"""Screenshots of the pathway and family pages (run by tests/console/screenshots.py), on a server
holding six months of a borough's pathway (family_seed.seed_service_story).

The story's referrals are assessed weeks after they were written, so the periodic clock check must
not run while they are written (it would mark as breached a clock the next write meets): the
story is written with the check off, then the server is started again on the same database with
the check on, which marks the one referral truly left unopened.
"""

import atexit
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.console.family_seed import Family, month_start, seed_service_story, wait_for_breach
from tests.e2e.conftest import start_server, stop_dyad

_story: dict[str, object] = {}


def _story_server() -> tuple[str, Family]:
    if "base" not in _story:
        folder = Path(tempfile.mkdtemp(prefix="dyad-story-"))
        env = {"DYAD_AUTH": "off", "DYAD_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/dyad.sqlite3"}
        process, base = start_server({**env, "DYAD_PATHWAY_CLOCK_CHECK_SECONDS": "0"}, folder / "seed.log", within=180)
        try:
            with httpx.Client(base_url=f"{base}/fhir", headers={"Content-Type": "application/fhir+json"}) as client:
                clarke = seed_service_story(client)
        finally:
            stop_dyad(process)
        process, base = start_server({**env, "DYAD_PATHWAY_CLOCK_CHECK_SECONDS": "1"}, folder / "serve.log", within=180)
        atexit.register(stop_dyad, process)
        with httpx.Client(base_url=f"{base}/fhir", headers={"Content-Type": "application/fhir+json"}) as client:
            wait_for_breach(client, clarke)
        _story.update(base=base, clarke=clarke)
    return str(_story["base"]), _story["clarke"]  # type: ignore[return-value]


def pathway(page: Page, base: str) -> None:
    story, clarke = _story_server()
    first = month_start(5).strftime("%Y-%m")
    page.goto(f"{story}/console/pathway?from={first}")
    expect(page.locator("#referrals .row-breached").first).to_be_visible()
    expect(page.locator("#measures svg.chart")).to_have_count(5)
    expect(page.locator("#prompts tbody tr").first).to_be_visible()


def family(page: Page, base: str) -> None:
    story, clarke = _story_server()
    page.goto(f"{story}/console/family/{clarke.infant}")
    expect(page.get_by_role("list", name="Timeline")).to_be_visible()
