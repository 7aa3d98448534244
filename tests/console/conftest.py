"""The console driven in a real browser against a real `dyad serve` process.

- `console_server`: a server with DYAD_AUTH=off (development), one per database, shared by the
  session's console tests (tests create their own uniquely named records; none may assume an
  empty database).
- `jwt_server`: a server with DYAD_AUTH=jwt trusting a development key (DYAD_SERVE_DEV_JWKS), the
  perinatal mental health team's writes restricted, for the access tests; `jwt_server.mint(...)`
  signs tokens for the organisations of tests/security/hostile.py (MAT, HV, PMH).
- `browser`: Debian's Chromium (/usr/bin/chromium) driven by Playwright, one per test module (see
  the fixture for why; a module using it has no async tests). Playwright's own browser download
  is never used. Without Chromium the console tests are skipped, and under CI=true they
  fail instead: `.ci/run` installs it, so its absence there is a broken CI machine, not a pass.
- `page` / `jwt_page`: a fresh browser context (so a fresh sessionStorage) on each server. A page
  that throws an uncaught script error or breaks the Content-Security-Policy fails its test.

Poll with Playwright's auto-waiting `expect(locator)...`; never sleep.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from service.config import Settings
from service.security.dev_keys import DevSigningKey
from tests.conftest import BACKENDS, POSTGRES_URL, _postgres_admin, _with_database
from tests.e2e.conftest import start_server, stop_dyad
from tests.security.hostile import ALL, HV

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
# A shared 2-core machine compiles the guide in several processes at once: be patient, but poll.
EXPECT_TIMEOUT_MS = 20_000
SERVER_START_SECONDS = 180

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@dataclass
class ConsoleServer:
    base: str
    log_path: Path
    key: DevSigningKey | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client on the FHIR API, for seeding records a test then looks at in the browser."""
        headers = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=f"{self.base}/fhir", headers=headers, timeout=60)

    def mint(self, org: str | None = HV, scopes: str = ALL, subject: str = "console-test") -> str:
        """A token the jwt server accepts, for `org` (an Organization reference)."""
        if self.key is None:
            raise RuntimeError("this server does not check tokens")
        return self.key.mint(subject=subject, scopes=scopes, organization=org)

    def logs(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="session")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"The console's browser tests need Chromium under CI; .ci/run installs it. {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    # One per module, not per session: while Playwright's sync API is up it keeps an event loop
    # running on the test thread, and no async test or fixture (pytest-asyncio, asyncio.run) can
    # run beside it. A browser test module therefore uses no async fixtures; it seeds records
    # through ConsoleServer.client().
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _off_the_loop(work: Callable[[], None]) -> None:
    """Run `work` (which may call asyncio.run) in its own thread: Playwright's sync API keeps an
    event loop running on the test thread once the browser is up, and asyncio.run refuses that."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(work).result()


@pytest.fixture(scope="session", params=BACKENDS)
def console_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of each kind; the server migrates it and loads the guide as it starts."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('console-db') / 'dyad.sqlite3'}"
        return
    try:
        _off_the_loop(lambda: _postgres_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"dyad_console_{uuid.uuid4().hex[:10]}"
    _off_the_loop(lambda: _postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        _off_the_loop(lambda: _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _serve(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, Any]]:
    process, base = start_server(env, log_path, within=SERVER_START_SECONDS)
    try:
        yield base, process
    finally:
        stop_dyad(process)


@pytest.fixture(scope="session")
def console_server(console_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """`dyad serve` as `make serve` runs it: DYAD_AUTH=off, development only."""
    log_path = tmp_path_factory.mktemp("console-off") / "server.log"
    env = {
        "DYAD_DATABASE_URL": console_database,
        "DYAD_AUTH": "off",
        "DYAD_RATE_LIMIT_PER_MINUTE": "0",
        # The pathway page's breached referral is marked by the periodic clock check: every second.
        "DYAD_PATHWAY_CLOCK_CHECK_SECONDS": "1",
    }
    for base, _process in _serve(env, log_path):
        yield ConsoleServer(base, log_path)


@pytest.fixture(scope="session")
def jwt_server(console_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """`dyad serve` requiring signed tokens, trusting a development key made for this session."""
    folder = tmp_path_factory.mktemp("console-jwt")
    key_file = folder / "dev-key.pem"
    key = DevSigningKey.from_settings(Settings(dev_key_file=key_file))
    jwt_database = console_database
    if console_database.startswith("sqlite"):
        # Two servers writing one SQLite file would only test SQLite's locking: give this one its own.
        jwt_database = f"sqlite+aiosqlite:///{folder / 'dyad.sqlite3'}"
    env = {
        "DYAD_DATABASE_URL": jwt_database,
        "DYAD_AUTH": "jwt",
        "DYAD_SERVE_DEV_JWKS": "true",
        "DYAD_DEV_KEY_FILE": str(key_file),
        "DYAD_RESTRICTED_ORGANIZATIONS": '["Organization/pmh-team"]',
        "DYAD_RATE_LIMIT_PER_MINUTE": "0",
        "DYAD_AUDIT_FLUSH_SECONDS": "0.05",
    }
    for base, _process in _serve(env, folder / "server.log"):
        yield ConsoleServer(base, folder / "server.log", key)


def _open(browser: Browser, base: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base)
    page = context.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(f"uncaught script error: {error}"))

    def note_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            failures.append(f"CSP violation: {message.text}")

    page.on("console", note_console)
    try:
        yield page
    finally:
        context.close()
    assert not failures, failures


@pytest.fixture
def page(browser: Browser, console_server: ConsoleServer) -> Iterator[Page]:
    """A fresh browser tab on the development (auth off) server."""
    yield from _open(browser, console_server.base)


@pytest.fixture
def jwt_page(browser: Browser, jwt_server: ConsoleServer) -> Iterator[Page]:
    """A fresh browser tab on the jwt server, signed in as nobody."""
    yield from _open(browser, jwt_server.base)


def sign_in(page: Page, token: str) -> None:
    """Sign in the way a user does: paste the token on the sign-in page."""
    page.goto("/console/signin")
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()
