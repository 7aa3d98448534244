"""/console/guide: the guide this server enforces, from its own FHIR API and package: profiles with
their elements (cardinality, type, binding, constraints in words and FHIRPath), ValueSets expanded,
CodeSystems, ConceptMaps, examples, the links between them, and the package download."""

import json
import re
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT

BASE = "https://w3id.org/dyad/fhir"
RELATIONSHIP = f"{BASE}/StructureDefinition/dyad-relationship-observation"
PROFILE = json.loads((ROOT / "profiles" / "StructureDefinition-dyad-relationship-observation.json").read_text())


def _row(page: Page, table: str, header: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#{table} tbody tr").filter(has=page.get_by_role("rowheader", name=header, exact=True))


def test_the_contents_list_each_kind_of_resource_and_the_package_downloads(page: Page) -> None:
    page.goto("/console/guide")
    for heading in ("Profiles", "Extensions", "ValueSets", "CodeSystems", "ConceptMaps", "Examples"):
        expect(page.get_by_role("heading", name=re.compile(rf"^{heading} \(\d+\)$"))).to_be_visible()
    expect(page.get_by_role("heading", name="Profiles (8)")).to_be_visible()
    download = page.get_by_role("link", name=re.compile(r"^Download the package dyad\.fhir "))
    response = page.request.get(download.get_attribute("href") or "")
    assert response.status == 200
    assert response.headers["content-type"] == "application/tar+gzip"
    page.get_by_role("link", name="Parent–infant relationship observation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Parent–infant relationship observation")
    expect(page).to_have_url(re.compile(r"\?profile=" + re.escape(quote(RELATIONSHIP, safe=""))))


def test_a_profile_shows_its_elements_with_cardinality_type_binding_and_constraints(page: Page) -> None:
    page.goto(f"/console/guide?profile={quote(RELATIONSHIP, safe='')}")
    performer = _row(page, "elements", "Observation.performer")
    expect(performer.locator("td").nth(0)).to_have_text("1..·")
    expect(performer.locator("td").nth(1)).to_contain_text("Reference(")
    value = _row(page, "elements", "Observation.value[x]")
    expect(value.locator("td").nth(1)).to_have_text("CodeableConcept")
    expect(value.locator("td").nth(2)).to_contain_text("required")
    expect(value.get_by_role("link", name="Concern level")).to_be_visible()
    root = next(e for e in PROFILE["differential"]["element"] if e["id"] == "Observation")
    for constraint in root["constraint"]:
        row = _row(page, "constraints", constraint["key"])
        expect(row).to_contain_text(constraint["human"])
        expect(row.locator("td").last).to_have_text(constraint["expression"])
    _row(page, "elements", "Observation").get_by_role("link", name="dyad-obs-2").click()
    expect(page).to_have_url(re.compile("#constraint-dyad-obs-2$"))


def test_a_binding_leads_to_its_valueset_expanded_and_on_to_its_codesystem(page: Page) -> None:
    page.goto(f"/console/guide?profile={quote(RELATIONSHIP, safe='')}")
    _row(page, "elements", "Observation.value[x]").get_by_role("link", name="Concern level").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Concern level")
    expect(page.locator("#expansion caption")).to_have_text("Expansion: 3 codes")
    expect(page.locator("#expansion")).to_contain_text("Significant concern")
    expect(
        page.get_by_role("link", name="Parent–infant relationship observation: Observation.value[x]")
    ).to_be_visible()
    page.locator("#expansion").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dyad concern level")
    expect(page.locator("#concepts")).to_contain_text("significant-concern")
    expect(page.get_by_role("link", name="Concern level")).to_be_visible()


def test_a_conceptmap_shows_its_groups(page: Page) -> None:
    page.goto("/console/guide")
    page.get_by_role("link", name="Dyad referral status to FHIR Task status").click()
    group = page.locator("table.conceptmap-group").first
    expect(group.locator("caption")).to_contain_text("from Dyad referral business status to")
    expect(group.get_by_role("row").filter(has_text="assessment-booked")).to_contain_text("in-progress")


def test_an_example_can_be_read_and_sent_to_the_validator(page: Page) -> None:
    page.goto("/console/guide")
    page.get_by_role("link", name="Example Observation obs-ava-grace-pbq").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Example Observation/obs-ava-grace-pbq")
    expect(page.get_by_role("link", name="Parent–infant relationship observation")).to_be_visible()
    page.get_by_role("link", name="Validate this example").click()
    expect(page.get_by_label("Resource or Bundle (JSON or XML)")).to_have_value(re.compile('"id": "obs-ava-grace-pbq"'))
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#outcome .summary")).to_have_text("No errors")


def test_an_unknown_profile_says_so(page: Page) -> None:
    page.goto(f"/console/guide?profile={quote(BASE + '/StructureDefinition/nope', safe='')}")
    expect(page.get_by_role("alert")).to_contain_text("This server's guide has no profile")
