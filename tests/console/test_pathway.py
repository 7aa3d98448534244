"""The pathway page in a real browser: a team's breached referral, its prompts, and the measures
drawn over time, all read through the FHIR API with the signed-in user's access."""

import re
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.family_seed import (
    assessed_referral,
    create,
    father_observed_by,
    month_start,
    move,
    new_family,
    perinatal_mental_health,
    put,
    referral,
    search,
    seed_family,
    seed_family_on_the_pathway,
    wait_for_breach,
)
from tests.security.hostile import HV, MAT, PMH


def test_a_breached_referral_is_shown_with_its_clock_for_the_team_it_went_to(
    page: Page, console_server: ConsoleServer
) -> None:
    family = new_family()
    with console_server.client() as client:
        seed_family_on_the_pathway(client, family)
        task = wait_for_breach(client, family)

    page.goto(f"/console/pathway?team={family.parent_infant_team}")

    referrals = page.locator("#referrals")
    row = referrals.locator(f'tr[data-task="{task["id"]}"]')
    expect(row).to_be_visible()
    expect(row.get_by_role("cell", name=re.compile("Breached"))).to_contain_text(
        "Assessment not within 2 weeks of referral"
    )
    expect(row.get_by_role("link", name=family.infant_name)).to_have_attribute(
        "href", f"/console/family/{family.infant}"
    )
    expect(row).to_contain_text("days late")
    expect(referrals.get_by_role("status").or_(referrals.locator(".summary"))).to_contain_text("1 breached")
    # The team's view holds the team's work only: the prompt went to health visiting, not to it.
    expect(page.locator("#prompts")).to_contain_text("No open prompts")


def test_the_prompt_appears_for_the_health_visiting_team_and_the_team_is_chosen_from_the_form(
    page: Page, console_server: ConsoleServer
) -> None:
    family = new_family()
    with console_server.client() as client:
        seed_family_on_the_pathway(client, family)

    page.goto("/console/pathway")
    # The form is live once the first view has been shown (its button is disabled until then).
    expect(page.locator("#pathway-status")).to_contain_text("Showing the whole service")
    page.get_by_label("Team").select_option(label=f"Health Visiting {family.suffix}")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(rf"team=Organization%2Fhv-{family.suffix}"))
    prompts = page.locator("#prompts")
    expect(prompts.get_by_role("row", name=re.compile(family.infant_name))).to_contain_text("Urgent")
    expect(prompts).to_contain_text("1 open prompt")
    expect(page.locator("#referrals")).to_contain_text("No open referrals")


def test_the_waiting_times_are_drawn_month_by_month_with_their_figures(
    page: Page, console_server: ConsoleServer
) -> None:
    family = new_family()
    with console_server.client() as client:
        seed_family_on_the_pathway(client, family)
        assessed_referral(client, family, 1, month_start(3) + timedelta(days=1), assessed=10, started=20)
        assessed_referral(client, family, 2, month_start(1) + timedelta(days=1), assessed=16, started=None)
    first, last = month_start(3).strftime("%Y-%m"), month_start(0).strftime("%Y-%m")

    page.goto(f"/console/pathway?team={family.parent_infant_team}&from={first}&to={last}&interval=month")

    measures = page.locator("#measures")
    expect(measures.locator("svg.chart")).to_have_count(5)
    waits = measures.get_by_role("figure", name=re.compile("Referral to assessment"))
    expect(waits.get_by_role("img", name=re.compile("Referral to assessment"))).to_be_visible()
    waits.get_by_text("Figures as a table").click()
    rows = waits.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(4)
    for index, figure in enumerate(("10 d", "no data", "16 d", "no data")):
        expect(rows.nth(index).get_by_role("cell")).to_have_text(figure)
    started = measures.get_by_role("figure", name=re.compile("Assessment to intervention"))
    started.get_by_text("Figures as a table").click()
    expect(started.get_by_role("table").locator("tbody tr").first.get_by_role("cell")).to_have_text("20 d")
    # The image's text alternative carries the same figures.
    expect(waits.locator("svg desc")).to_contain_text("16 d")


def test_a_referral_whose_family_was_assessed_is_no_longer_late_for_assessment(
    page: Page, console_server: ConsoleServer
) -> None:
    family = new_family()
    now = datetime.now(UTC)
    with console_server.client() as client:
        seed_family(client, family)
        # Recent, so no clock is past due while the steps are written.
        helped = assessed_referral(client, family, 1, now - timedelta(days=5), assessed=1, started=1)
        assessed = assessed_referral(client, family, 2, now - timedelta(days=4), assessed=1, started=None)
        # Assessed late: after the clock check marked its breach.
        family.referral = put(client, referral(family, now - timedelta(days=20)))["id"]
        late = wait_for_breach(client, family)
        for status, business in (("received", "received"), ("accepted", "accepted"), ("in-progress", "assessed")):
            late = move(client, late, status, business, now)

    page.goto(f"/console/pathway?team={family.parent_infant_team}")

    referrals = page.locator("#referrals")
    expect(referrals.locator(f'tr[data-task="{helped}"]')).to_contain_text("Both clocks met")
    row = referrals.locator(f'tr[data-task="{assessed}"]')
    expect(row).to_contain_text("Assessment met; intervention due within a month")
    expect(row).not_to_contain_text("late")
    # The breach the clock check marked stays on record once the family is assessed.
    row = referrals.locator(f'tr[data-task="{late["id"]}"]')
    expect(row).to_contain_text("Assessment not within 2 weeks")
    expect(row).to_contain_text("Assessed")


def test_the_share_of_parents_asked_is_drawn_by_contact_type_and_caregiver_role(
    page: Page, console_server: ConsoleServer
) -> None:
    family = new_family()
    with console_server.client() as client:
        seed_family_on_the_pathway(client, family)

    page.goto(f"/console/pathway?team={family.health_visiting}&interval=month")

    measures = page.locator("#measures")
    asked = measures.get_by_role("figure", name=re.compile("Parents asked at postnatal contacts"))
    # Of health visiting's two contacts, the new birth visit had an assessment (the mother's),
    # the six-week review none.
    description = asked.locator("svg desc")
    expect(description).to_contain_text(re.compile(r"New birth visit: \w+ \d{4} 100%\."))
    expect(description).to_contain_text(re.compile(r"6–8 week review: \w+ \d{4} 0%\."))
    asked.get_by_text("Figures as a table").click()
    table = asked.get_by_role("table")
    expect(table.get_by_role("columnheader", name="New birth visit")).to_be_visible()
    expect(table.get_by_role("columnheader", name="6–8 week review")).to_be_visible()
    roles = measures.get_by_role("figure", name=re.compile("Assessments by caregiver role"))
    expect(roles.get_by_role("listitem")).to_have_text(["Caregiver with their own record (Patient)"])


def test_a_prompt_raised_by_a_perinatal_mental_health_record_is_shown_to_its_team_and_no_one_else(
    jwt_page: Page, jwt_server: ConsoleServer
) -> None:
    family = new_family(health_visiting=HV)
    with jwt_server.client(jwt_server.mint(HV)) as hv:
        seed_family(hv, family)
        put(hv, perinatal_mental_health(PMH))
    with jwt_server.client(jwt_server.mint(PMH)) as pmh:
        # Restricted (PMH's writes are): the prompt it raises for health visiting is health visiting's alone.
        create(pmh, father_observed_by(family, PMH, "perinatal-mh-appointment"))
    with jwt_server.client(jwt_server.mint(HV)) as hv:
        [prompt] = search(hv, f"Task?patient=Patient/{family.infant}&code=assessment-prompt")
    with jwt_server.client(jwt_server.mint(MAT)) as maternity:
        assert search(maternity, f"Task?patient=Patient/{family.infant}&code=assessment-prompt") == []

    sign_in(jwt_page, jwt_server.mint(HV))
    jwt_page.goto(f"/console/pathway?team={HV}")
    expect(jwt_page.locator(f'#prompts tr[data-task="{prompt["id"]}"]')).to_contain_text(family.infant_name)

    sign_in(jwt_page, jwt_server.mint(MAT))
    jwt_page.goto("/console/pathway")
    expect(jwt_page.locator("#pathway-status")).to_contain_text("Showing the whole service")
    expect(jwt_page.locator(f'#prompts tr[data-task="{prompt["id"]}"]')).to_have_count(0)
    expect(jwt_page.locator("#prompts")).not_to_contain_text(family.infant_name)


def test_a_token_that_may_not_search_tasks_is_told_so_not_shown_an_empty_page(
    jwt_page: Page, jwt_server: ConsoleServer
) -> None:
    sign_in(jwt_page, jwt_server.mint(HV, scopes="system/Patient.rs"))
    jwt_page.goto("/console/pathway")
    for section, what in (
        ("#referrals", "these referral tasks"),
        ("#prompts", "open prompts"),
        ("#measures", "the pathway measures for this period"),
        ("#pathway-refusal", "the list of teams"),
    ):
        expect(jwt_page.locator(section).get_by_role("alert")).to_contain_text(
            f"Your organisation is not allowed to see {what} (403 Forbidden)"
        )


def test_a_token_the_server_does_not_accept_is_told_to_sign_in_again(jwt_page: Page, jwt_server: ConsoleServer) -> None:
    assert jwt_server.key is not None
    two_hours_ago = time.time() - 7200
    expired = jwt_server.key.mint(subject="console-test", scopes="system/*.cruds", organization=HV, now=two_hours_ago)
    sign_in(jwt_page, expired)
    jwt_page.goto("/console/pathway")
    expect(jwt_page.locator("#referrals").get_by_role("alert")).to_contain_text("The server needs a valid token")
    expect(jwt_page.locator("#referrals").get_by_role("link", name="sign in")).to_be_visible()
