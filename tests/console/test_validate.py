"""/console/validate: paste or upload a resource, the server's own $validate checks it, and each
issue is listed (severity, location, message) and marked on the line of the text it names."""

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from service.conformance.fhir_xml import to_xml
from tests.console.conftest import ConsoleServer, sign_in
from tests.e2e.conftest import ROOT
from tests.security.hostile import HV

EXAMPLES = ROOT / "profiles" / "examples"
INVALID = EXAMPLES / "invalid"
RELATIONSHIP = "https://w3id.org/dyad/fhir/StructureDefinition/dyad-relationship-observation"


def _paste(page: Page, text: str) -> None:
    page.goto("/console/validate")
    expect(page.get_by_label("Profile")).to_contain_text("Parent–infant relationship observation")
    page.get_by_label("Resource or Bundle (JSON or XML)").fill(text)


def _issues(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("list", name="Issues").get_by_role("listitem")


def test_a_relationship_observation_missing_a_required_element_shows_its_issue(page: Page) -> None:
    _paste(page, (INVALID / "Observation-invalid-missing-performer.json").read_text())
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("status").filter(has_text="error")).to_have_text("1 error, 0 warnings")
    issue = _issues(page).filter(has_text="Observation.performer")
    expect(issue).to_contain_text("error")
    expect(issue).to_contain_text("is required at least 1 time(s) by the profile")


def test_an_issue_deep_in_the_resource_is_marked_on_its_line_and_its_location_jumps_there(page: Page) -> None:
    text = (INVALID / "Observation-invalid-domain-value.json").read_text()
    _paste(page, text)
    page.get_by_role("button", name="Validate").click()
    location = "Observation.component[1].valueCodeableConcept"
    issue = _issues(page).filter(has_text=location)
    expect(issue).to_contain_text("error")
    expected_line = _line_of_key(text, '"valueCodeableConcept"', occurrence=2, after='"component"')
    flagged = page.locator("#source li.flagged-error")
    expect(flagged).to_have_count(1)
    expect(flagged).to_have_attribute("data-line", str(expected_line))
    expect(flagged).to_contain_text('"valueCodeableConcept"')
    expect(flagged).to_contain_text("error")
    issue.get_by_role("button", name=location).click()
    expect(page.locator(f"#line-{expected_line}")).to_be_focused()
    expect(page.locator("#source li.current")).to_have_attribute("data-line", str(expected_line))


def test_a_signed_in_user_validates_through_the_secured_api(jwt_page: Page, jwt_server: ConsoleServer) -> None:
    sign_in(jwt_page, jwt_server.mint(org=HV))
    _paste(jwt_page, (INVALID / "Observation-invalid-missing-performer.json").read_text())
    jwt_page.get_by_role("button", name="Validate").click()
    expect(_issues(jwt_page).filter(has_text="Observation.performer")).to_contain_text("error")


def test_a_valid_example_has_no_errors(page: Page) -> None:
    _paste(page, (EXAMPLES / "Observation-obs-ava-grace-pbq.json").read_text())
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#outcome .summary")).to_have_text("No errors")
    expect(page.locator("#source li.flagged")).to_have_count(0)


def test_a_chosen_profile_is_checked_even_when_the_resource_is_not_of_its_kind(page: Page) -> None:
    weight = {"resourceType": "Observation", "status": "final", "code": {"text": "Infant weight"}}
    _paste(page, json.dumps(weight, indent=2))
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#outcome .summary")).to_have_text("No errors")
    page.get_by_label("Profile").select_option(RELATIONSHIP)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#outcome .summary")).to_contain_text("error")
    expect(_issues(page).filter(has_text="Observation.performer")).to_contain_text("error")


def test_fhir_xml_is_validated_and_its_issue_marked_on_the_xml_line(page: Page) -> None:
    resource = json.loads((INVALID / "Observation-invalid-domain-value.json").read_text())
    xml = to_xml(resource, pretty=True).decode()
    _paste(page, xml)
    page.get_by_role("button", name="Validate").click()
    expect(_issues(page).filter(has_text="Observation.component[1].valueCodeableConcept")).to_contain_text("error")
    flagged = page.locator("#source li.flagged-error")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("<valueCodeableConcept>")
    assert int(flagged.get_attribute("data-line") or 0) == _line_of_key(
        xml, "<valueCodeableConcept>", occurrence=2, after="<component>"
    )


def test_an_issue_inside_a_bundle_is_marked_in_its_entry(page: Page) -> None:
    valid = json.loads((EXAMPLES / "Observation-obs-ava-grace-pbq.json").read_text())
    broken = json.loads((INVALID / "Observation-invalid-domain-value.json").read_text())
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": valid}, {"resource": broken}]}
    text = json.dumps(bundle, indent=2)
    _paste(page, text)
    page.get_by_role("button", name="Validate").click()
    location = "Bundle.entry[1].resource.component[1].valueCodeableConcept"
    expect(_issues(page).filter(has_text=location)).to_contain_text("error")
    after_second_entry = text.index('"id": "invalid-domain-value"')
    expected = _line_of_key(text[after_second_entry:], '"valueCodeableConcept"', occurrence=2, after='"component"')
    expected += text[:after_second_entry].count("\n")
    expect(page.locator("#source li.flagged-error")).to_have_attribute("data-line", str(expected))


def test_text_that_is_not_json_is_refused_with_its_line_before_anything_is_sent(page: Page) -> None:
    _paste(page, '{\n  "resourceType": "Observation",\n  "status": final\n}')
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#outcome")).to_contain_text("This is not valid JSON")
    expect(page.locator("#source li.flagged-error")).to_have_attribute("data-line", "3")


def test_a_file_can_be_uploaded_instead_of_pasted(page: Page, tmp_path: Path) -> None:
    page.goto("/console/validate")
    page.get_by_label("Or upload a file").set_input_files(INVALID / "Observation-invalid-missing-performer.json")
    expect(page.get_by_label("Resource or Bundle (JSON or XML)")).to_have_value(
        (INVALID / "Observation-invalid-missing-performer.json").read_text()
    )
    page.get_by_role("button", name="Validate").click()
    expect(_issues(page).filter(has_text="Observation.performer")).to_be_visible()


def test_the_form_is_labelled_and_works_by_keyboard_alone(page: Page) -> None:
    page.goto("/console/validate")
    for label in ("Resource or Bundle (JSON or XML)", "Or upload a file", "Profile"):
        expect(page.get_by_label(label)).to_be_visible()
    expect(page.get_by_label("Profile")).to_contain_text("Parent–infant relationship observation")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.get_by_label("Resource or Bundle (JSON or XML)").focus()
    page.keyboard.insert_text((INVALID / "Observation-invalid-missing-performer.json").read_text())
    page.keyboard.press("Tab")
    expect(page.get_by_label("Or upload a file")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Profile")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Validate")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Results")).to_be_focused()
    issue_location = _issues(page).filter(has_text="Observation.performer").get_by_role("button")
    issue_location.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#line-1")).to_be_focused()


def _line_of_key(text: str, key: str, occurrence: int, after: str) -> int:
    """The line of the occurrence-th `key` after the first line holding `after`."""
    seen = 0
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    for number, line in enumerate(lines[start:], start=start + 1):
        if key in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{key} not found {occurrence} times")
