"""Screenshots of each console page for docs/console.md, taken in Debian's Chromium.

    .venv/bin/python -m tests.console.screenshots            # every shot
    .venv/bin/python -m tests.console.screenshots validate   # only those named

Starts its own development server (DYAD_AUTH=off, a temporary SQLite database), drives each page
to a state worth showing, and writes docs/console/<name>.png. Add a page by adding a function to
SHOTS: it gets the Playwright page (its base URL is the server) and the server's base URL.
"""

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page, expect, sync_playwright

from tests.console import pathway_story
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import ROOT, start_server, stop_dyad

OUT = ROOT / "docs" / "console"
VIEWPORT = {"width": 1280, "height": 900}
RELATIONSHIP = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation"
CONCERN_LEVEL = "https://w3id.org/dyad/fhir/ValueSet/dyad-concern-level"


def validate(page: Page, base: str) -> None:
    page.goto("/console/validate")
    expect(page.get_by_label("Profile")).to_contain_text("Parent–infant relationship observation")
    broken = ROOT / "profiles" / "examples" / "invalid" / "Observation-invalid-domain-value.json"
    page.get_by_label("Resource or Bundle (JSON or XML)").fill(broken.read_text())
    page.get_by_role("button", name="Validate").click()
    page.locator("#outcome .issue button").first.click()
    expect(page.locator("#source li.current")).to_be_visible()


def guide(page: Page, base: str) -> None:
    page.goto("/console/guide")
    expect(page.get_by_role("heading", name="Examples", exact=False)).to_be_visible()


def guide_profile(page: Page, base: str) -> None:
    page.goto(f"/console/guide?profile={quote(RELATIONSHIP, safe='')}")
    expect(page.locator("#elements")).to_be_visible()


def guide_valueset(page: Page, base: str) -> None:
    page.goto(f"/console/guide?valueset={quote(CONCERN_LEVEL, safe='')}")
    expect(page.locator("#expansion")).to_be_visible()


def signin(page: Page, base: str) -> None:
    page.goto("/console/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


# Pages whose interesting part is below the fold are taken whole.
FULL_PAGE = {"validate", "pathway", "family"}
SHOTS: dict[str, Callable[[Page, str], None]] = {
    "validate": validate,
    "guide": guide,
    "guide-profile": guide_profile,
    "guide-valueset": guide_valueset,
    "signin": signin,
    "pathway": pathway_story.pathway,
    "family": pathway_story.family,
}


def main(names: list[str]) -> int:
    chosen = names or list(SHOTS)
    unknown = [name for name in chosen if name not in SHOTS]
    if unknown:
        print(f"no such shot: {', '.join(unknown)}; known: {', '.join(SHOTS)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        env = {"DYAD_AUTH": "off", "DYAD_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/dyad.sqlite3"}
        process, base = start_server(env, Path(folder) / "server.log", within=180)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for name in chosen:
                    context = browser.new_context(base_url=base, viewport=VIEWPORT)
                    page = context.new_page()
                    SHOTS[name](page, base)
                    page.screenshot(path=OUT / f"{name}.png", full_page=name in FULL_PAGE)
                    context.close()
                    print(f"wrote {OUT / name}.png")
                browser.close()
        finally:
            stop_dyad(process)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
