"""The family page in a real browser: the $dyad summary as a timeline and per caregiver, only what
the signed-in organisation may see, and a clear refusal instead of a blank page."""

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.console.conftest import ConsoleServer, sign_in
from tests.console.family_seed import (
    contact,
    create,
    father_observed_by,
    mother_observed_at_new_birth_visit,
    new_family,
    perinatal_mental_health,
    put,
    search,
    seed_family,
    seed_family_on_the_pathway,
    wait_for_breach,
)
from tests.security.hostile import HV, PMH


def test_a_familys_timeline_shows_contacts_observations_by_caregiver_prompts_referrals_and_plans(
    page: Page, console_server: ConsoleServer
) -> None:
    family = new_family()
    with console_server.client() as client:
        seed_family_on_the_pathway(client, family)
        wait_for_breach(client, family)

    page.goto(f"/console/family/{family.infant}")

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Family of {family.infant_name}")
    grace = page.get_by_role("region", name=f"Grace {family.surname} (Mother)")
    expect(grace.get_by_role("row", name=re.compile("New birth visit"))).to_contain_text("Some concern")
    daniel = page.get_by_role("region", name=f"Daniel {family.surname} (Father)")
    expect(daniel.get_by_role("row", name=re.compile("Postnatal midwife visit"))).to_contain_text("Significant concern")

    timeline = page.get_by_role("list", name="Timeline")
    for kind, title in (
        ("Contact", "New birth visit"),
        ("Contact", "6–8 week review"),
        ("Observation", f"Daniel {family.surname} (Father)"),
        ("Prompt", "Assess"),
        ("Referral", "Referral:"),
        ("Message", "Pathway clock breached"),
        ("Outcome", "Goal: Grace"),
    ):
        expect(timeline.get_by_role("heading", name=re.compile(f"^{kind}.*{re.escape(title)}"))).to_have_count(1)
    # Oldest first: the times the entries carry never go backwards.
    times = timeline.locator("li > article > .when time").evaluate_all(
        "nodes => nodes.map(n => new Date(n.getAttribute('datetime')).getTime())"
    )
    assert len(times) >= 8 and times == sorted(times)


def test_the_timeline_is_keyboard_navigable_and_filtered_by_kind(page: Page, console_server: ConsoleServer) -> None:
    family = new_family()
    with console_server.client() as client:
        seed_family(client, family)
        create(client, mother_observed_at_new_birth_visit(family))

    page.goto(f"/console/family/{family.infant}")
    entries = page.get_by_role("list", name="Timeline").locator("li > article")
    expect(entries.first).to_be_visible()
    entries.first.focus()
    page.keyboard.press("ArrowDown")
    expect(entries.nth(1)).to_be_focused()
    page.keyboard.press("End")
    expect(entries.last).to_be_focused()
    page.keyboard.press("Home")
    expect(entries.first).to_be_focused()

    contacts = page.locator('ol.timeline li[data-kind="contact"]')
    expect(contacts).to_have_count(2)
    page.get_by_role("checkbox", name=re.compile("^Contacts")).uncheck()
    expect(contacts.first).to_be_hidden()
    expect(contacts.last).to_be_hidden()
    expect(page.locator('ol.timeline li[data-kind="observation"]').first).to_be_visible()


def test_a_perinatal_mental_health_record_of_one_organisation_is_not_shown_to_another(
    jwt_page: Page, jwt_server: ConsoleServer
) -> None:
    family = new_family(health_visiting=HV)
    with jwt_server.client(jwt_server.mint(HV)) as hv:
        seed_family(hv, family)
        put(hv, perinatal_mental_health(PMH))
        create(hv, mother_observed_at_new_birth_visit(family))
    seen = datetime.now(UTC).date() - timedelta(days=50)
    with jwt_server.client(jwt_server.mint(PMH)) as pmh:
        appointment = create(pmh, contact(family, "pmh", "perinatal-mh-appointment", seen, PMH))
        observation = create(pmh, father_observed_by(family, PMH, "perinatal-mh-appointment"))
    with jwt_server.client(jwt_server.mint(HV)) as hv:
        # The records exist and are restricted: health visiting's searches do not find them.
        assert search(hv, f"Encounter?subject=Patient/{family.infant}&type=perinatal-mh-appointment") == []

    sign_in(jwt_page, jwt_server.mint(PMH))
    jwt_page.goto(f"/console/family/{family.infant}")
    timeline = jwt_page.get_by_role("list", name="Timeline")
    expect(timeline.locator(f'li[data-id="Encounter/{appointment["id"]}"]')).to_contain_text(
        "Perinatal mental health appointment"
    )
    expect(timeline.locator(f'li[data-id="Observation/{observation["id"]}"]')).to_have_count(1)

    sign_in(jwt_page, jwt_server.mint(HV))
    jwt_page.goto(f"/console/family/{family.infant}")
    timeline = jwt_page.get_by_role("list", name="Timeline")
    expect(timeline.get_by_role("heading", name=re.compile("New birth visit"))).to_have_count(1)
    expect(timeline).not_to_contain_text("Perinatal mental health appointment")
    expect(timeline.locator(f'li[data-id="Observation/{observation["id"]}"]')).to_have_count(0)
    daniel = jwt_page.get_by_role("region", name=f"Daniel {family.surname} (Father)")
    expect(daniel).to_contain_text("No observations recorded that you may see")


def test_a_patient_the_organisation_may_not_read_is_refused_with_a_message(
    jwt_page: Page, jwt_server: ConsoleServer
) -> None:
    family = new_family(health_visiting=HV)
    with jwt_server.client(jwt_server.mint(HV)) as hv:
        seed_family(hv, family)

    sign_in(jwt_page, jwt_server.mint(HV, scopes="system/Observation.rs"))
    jwt_page.goto(f"/console/family/{family.infant}")
    expect(jwt_page.get_by_role("heading", level=1)).to_have_text("Family not shown")
    expect(jwt_page.get_by_role("alert")).to_contain_text(
        "Your organisation is not allowed to see the record of this patient (403 Forbidden)"
    )

    sign_in(jwt_page, jwt_server.mint(HV))
    jwt_page.goto(f"/console/family/no-such-{family.suffix}")
    expect(jwt_page.get_by_role("alert")).to_contain_text(
        "Not found: the record of this patient does not exist, or your organisation may not see it (404)"
    )
    expect(jwt_page.get_by_role("list", name="Timeline")).to_have_count(0)


def test_without_a_token_the_family_page_sends_the_user_to_sign_in(jwt_page: Page) -> None:
    jwt_page.goto("/console/family/anyone")
    expect(jwt_page).to_have_url(re.compile(r"/console/signin\?next=%2Fconsole%2Ffamily%2Fanyone"))
