"""Sign-in: a pasted bearer token, or the development token a development server may offer.

The token lives in the tab's sessionStorage only; pages that need data send an unsigned-in user
to sign in and back.
"""

import re

from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.security.hostile import MAT


def test_development_server_needs_no_token_and_says_so(page: Page) -> None:
    page.goto("/console")
    expect(page).to_have_url(re.compile(r"/console/validate$"))
    expect(page.get_by_role("heading", name="Validate")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_text("development mode (DYAD_AUTH=off)")).to_be_visible()
    page.get_by_role("link", name="Continue without a token").click()
    expect(page.get_by_role("heading", name="Validate")).to_be_visible()


def test_without_a_token_a_page_sends_the_user_to_sign_in_and_back(jwt_page: Page, jwt_server: ConsoleServer) -> None:
    jwt_page.goto("/console/guide?profile=x")
    expect(jwt_page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "next=%2Fconsole%2Fguide%3Fprofile%3Dx" in jwt_page.url
    jwt_page.get_by_label("Bearer token").fill(jwt_server.mint(org=MAT))
    jwt_page.get_by_role("button", name="Sign in").click()
    expect(jwt_page.get_by_text(f"Signed in as {MAT}")).to_be_visible()
    assert jwt_page.url.endswith("/console/guide?profile=x")


def test_the_token_is_kept_for_the_session_only_and_sign_out_forgets_it(
    jwt_page: Page, jwt_server: ConsoleServer
) -> None:
    sign_in(jwt_page, jwt_server.mint(org=MAT))
    stored = jwt_page.evaluate("() => [sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [1, 0, ""]
    jwt_page.get_by_role("button", name="Sign out").click()
    expect(jwt_page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert jwt_page.evaluate("() => sessionStorage.length") == 0


def test_a_development_key_server_offers_a_development_token(jwt_page: Page) -> None:
    jwt_page.goto("/console/signin")
    jwt_page.get_by_label("Organisation").fill(MAT)
    jwt_page.get_by_role("button", name="Get a development token").click()
    expect(jwt_page.get_by_text(f"Signed in as {MAT}")).to_be_visible()


def test_a_pasted_non_token_is_refused_with_a_message(jwt_page: Page) -> None:
    jwt_page.goto("/console/signin")
    jwt_page.get_by_label("Bearer token").fill("not a token")
    jwt_page.keyboard.press("Tab")
    jwt_page.keyboard.press("Enter")
    expect(jwt_page.get_by_role("alert")).to_contain_text("not a bearer token")
    assert jwt_page.evaluate("() => sessionStorage.length") == 0
