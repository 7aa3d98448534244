"""What one service recorded, rendered for another: same assessment, that service's point of view."""

from typing import Any

from service.mapping import MappingCatalog
from tests.mapping.conftest import sample


def _bundle(catalog: MappingCatalog, system: str, name: str) -> dict[str, Any]:
    result = catalog.system(system).to_fhir(sample(catalog.system(system), name))
    assert result.bundle is not None
    return result.bundle


def test_maternity_observation_reaches_health_visiting_with_the_child_as_subject(catalog: MappingCatalog) -> None:
    maternity = sample(catalog.system("maternity"), "postnatal-visit-concern-noah")
    rendered = catalog.system("health-visiting").from_fhir(
        _bundle(catalog, "maternity", "postnatal-visit-concern-noah")
    )
    assert rendered.ok, rendered.issues
    record = rendered.record
    assert record is not None
    baby = maternity["MSD401BabyDemographics"]
    assert record["Child"]["NHSNumber"] == baby["NHSNumberBaby"]
    assert record["Child"]["LocalPatientId"] == baby["LPIDBaby"]
    by_id = {a["AssessmentID"]: a for a in record["RelationshipAssessments"]}
    for original in maternity["RelationshipAssessments"]:
        seen = by_id[original["AssessmentID"]]
        for field in (
            "AssessmentDate",
            "AssessmentTime",
            "AssessmentType",
            "InstrumentCode",
            "ConcernLevel",
            "Domains",
            "Strengths",
            "AssessorName",
        ):
            assert seen[field] == original[field], field
        assert seen["CareProfLocalID"] == original["CareProfLID"]  # the assessor, in CSDS terms
        assert seen["CaregiverLocalID"] == original["CaregiverLocalID"]
    # The mother is one of the child's caregivers for health visiting, with her relationship coded.
    mother = next(
        c for c in record["Caregivers"] if c["CaregiverLocalID"] == maternity["MSD001MotherDemog"]["LPIDMother"]
    )
    assert mother["RelationshipToChild"] == "10"
    assert mother["NHSNumber"] == maternity["MSD001MotherDemog"]["NHSNumberMother"]
    co_parent = next(c for c in record["Caregivers"] if c["CaregiverLocalID"] == "C0812292")
    assert co_parent["RelationshipToChild"] == "02"


def test_health_visiting_assessment_reaches_perinatal_mental_health_with_the_mother_as_subject(
    catalog: MappingCatalog,
) -> None:
    hv = sample(catalog.system("health-visiting"), "new-birth-visit-ava")
    rendered = catalog.system("perinatal-mental-health").from_fhir(
        _bundle(catalog, "health-visiting", "new-birth-visit-ava")
    )
    assert rendered.ok, rendered.issues
    record = rendered.record
    assert record is not None
    assert record["MHS001MPI"]["NHSNumber"] == "9990782148"  # Grace, the child's mother
    assert record["Baby"]["NHSNumberBaby"] == hv["Child"]["NHSNumber"]
    [assessment] = record["RelationshipAssessments"]
    assert assessment["CaregiverLocalID"] == record["MHS001MPI"]["LocalPatientId"]
    assert assessment["Domains"] == hv["RelationshipAssessments"][0]["Domains"]
    # The father and grandmother are the other caregivers; the mother is the record's subject.
    assert {c["CarerRelationshipMH"] for c in record["Caregivers"]} == {"01", "04"}


def test_what_the_target_cannot_hold_is_listed(catalog: MappingCatalog) -> None:
    rendered = catalog.system("perinatal-mental-health").from_fhir(
        _bundle(catalog, "maternity", "postnatal-visit-concern-noah")
    )
    fields = {u.field for u in rendered.unmappable}
    # A VIPP referral has no MHSDS team type; a postnatal midwife visit no MHSDS contact type.
    assert "ServTeamTypeRefToMH" in fields
    assert "CareContTypeDyad" in fields
    assert rendered.record is not None and "MHS101Referral" not in rendered.record
    hv = catalog.system("health-visiting").from_fhir(_bundle(catalog, "maternity", "postnatal-visit-concern-noah"))
    assert any(
        u.field == "CommunityCareActivityType" and "postnatal-midwife-visit" in " ".join(u.values)
        for u in hv.unmappable
    )


def test_nhs_number_status_postcode_and_team_are_held_on_the_way_in(catalog: MappingCatalog) -> None:
    system = catalog.system("maternity")
    result = system.to_fhir(sample(system, "postnatal-visit-concern-noah"))
    assert result.unmappable == []
    assert result.bundle is not None
    mother = next(e["resource"] for e in result.bundle["entry"] if e["resource"].get("address"))
    nhs = next(i for i in mother["identifier"] if i["system"] == "https://fhir.nhs.uk/Id/nhs-number")
    [status] = nhs["extension"]
    assert status["url"] == "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "01"
    assert mother["address"] == [{"postalCode": "NW10 4RE"}]


def test_attendance_and_a_telephone_contact_keep_their_codes_in_another_system(catalog: MappingCatalog) -> None:
    record = sample(catalog.system("maternity"), "postnatal-father-care-plan-ava")
    record["MSD201CareContactPreg"][0]["Medium"] = "02"  # telephone; AttendCode is 6, late but seen
    bundle = catalog.system("maternity").to_fhir(record).bundle
    assert bundle is not None
    for system, mechanism, attendance in (
        ("health-visiting", "ConsultationMechanism", "AttendanceStatus"),
        ("perinatal-mental-health", "ConsMechanismMH", "AttendOrDNACode"),
    ):
        rendered = catalog.system(system).from_fhir(bundle)
        assert rendered.record is not None, rendered.issues
        [contact] = next(v for k, v in rendered.record.items() if k.endswith("CareContact"))
        assert (contact[mechanism], contact[attendance]) == ("02", "6"), system
        assert rendered.approximate == set()


def test_a_bundle_with_two_families_needs_a_subject(catalog: MappingCatalog) -> None:
    first = _bundle(catalog, "health-visiting", "new-birth-visit-ava")
    second = _bundle(catalog, "health-visiting", "six-to-eight-week-review-rejected")
    both = {"resourceType": "Bundle", "type": "collection", "entry": first["entry"] + second["entry"]}
    system = catalog.system("health-visiting")
    ambiguous = system.from_fhir(both)
    assert not ambiguous.ok and ambiguous.issues[0].field == "subject"
    chosen = system.from_fhir(both, subject="9997465075")
    assert chosen.ok and chosen.record is not None
    assert chosen.record["Child"]["PersonGivenName"] == "Isla"


def _mother_of_both(catalog: MappingCatalog, oscar_born: str = "2026-11-02") -> dict[str, Any]:
    """What Dyad holds once the mother is linked to both babies: Oscar and her RelatedPerson for him."""
    first = _bundle(catalog, "maternity", "twins-first-baby-olivia")
    second = _bundle(catalog, "maternity", "twins-second-baby-oscar")
    oscar = [
        e for e in second["entry"] if e["resource"].get("birthDate") == "2026-11-02" or e["resource"].get("patient")
    ]
    mother_of_oscar = next(
        e
        for e in oscar
        if e["resource"]["resourceType"] == "RelatedPerson"
        and any(i["value"] == "M0833100/B0833102" for i in e["resource"]["identifier"])
    )
    baby = next(e for e in oscar if e["resource"]["resourceType"] == "Patient")
    baby["resource"]["birthDate"] = oscar_born
    mother = next(e["resource"] for e in first["entry"] if e["resource"].get("link"))
    mother["link"].append({"other": {"reference": mother_of_oscar["fullUrl"]}, "type": "seealso"})
    return {"resourceType": "Bundle", "type": "collection", "entry": first["entry"] + [baby, mother_of_oscar]}


def test_a_mother_of_twins_rendered_for_maternity_holds_both_twins(catalog: MappingCatalog) -> None:
    rendered = catalog.system("maternity").from_fhir(_mother_of_both(catalog))
    assert rendered.ok and rendered.record is not None, rendered.issues
    babies = rendered.record["MSD401BabyDemographics"]
    assert [b["PersonGivenNameBaby"] for b in babies] == ["Olivia", "Oscar"]
    assert [a["LPIDBaby"] for a in rendered.record["RelationshipAssessments"]] == ["B0833101"]
    assert rendered.unmappable == []


def test_twins_born_either_side_of_midnight_are_one_birth(catalog: MappingCatalog) -> None:
    rendered = catalog.system("maternity").from_fhir(_mother_of_both(catalog, oscar_born="2026-11-03"))
    assert rendered.record is not None, rendered.issues
    assert len(rendered.record["MSD401BabyDemographics"]) == 2


def test_a_baby_of_an_earlier_pregnancy_is_listed_not_put_in_this_pregnancys_record(catalog: MappingCatalog) -> None:
    """The record is of one pregnancy: an older sibling is named as not held, never shown as a twin."""
    rendered = catalog.system("maternity").from_fhir(_mother_of_both(catalog, oscar_born="2028-05-20"))
    assert rendered.record is not None, rendered.issues
    assert rendered.record["MSD401BabyDemographics"]["PersonGivenNameBaby"] == "Oscar"  # the latest birth
    listed = {u.field: u.values for u in rendered.unmappable}
    assert listed["a baby of an earlier pregnancy"] == ("9995912961",)  # Olivia's NHS number
    assert "RelationshipAssessments" not in rendered.record  # the one assessment is Olivia's


def test_an_encounter_with_only_a_status_and_class_still_renders_its_attendance(catalog: MappingCatalog) -> None:
    """An Encounter written over REST has no attendance extension or local codes: status and class are read."""
    bundle = _bundle(catalog, "health-visiting", "new-birth-visit-ava")
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"].pop("extension")
            entry["resource"]["type"] = entry["resource"]["type"][:1]
    for system, attendance in (
        ("health-visiting", "AttendanceStatus"),
        ("maternity", "AttendCode"),
        ("perinatal-mental-health", "AttendOrDNACode"),
    ):
        rendered = catalog.system(system).from_fhir(bundle)
        assert rendered.record is not None, (system, rendered.issues)
        [contact] = next(v for k, v in rendered.record.items() if k.startswith(("CYP201", "MSD201", "MHS201")))
        assert contact[attendance] == "5", system
