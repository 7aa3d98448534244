"""Bad records are refused with issues in the source's own terms; nothing is half-mapped."""

import copy

from service.mapping import MappingCatalog
from tests.mapping.conftest import sample


def test_invalid_nhs_number_names_the_field(catalog: MappingCatalog) -> None:
    system = catalog.system("maternity")
    record = copy.deepcopy(sample(system, "postnatal-visit-concern-noah"))
    record["MSD401BabyDemographics"]["NHSNumberBaby"] = "9995632013"  # wrong check digit
    result = system.to_fhir(record)
    assert result.bundle is None and not result.ok
    [issue] = result.issues
    assert issue.field == "MSD401BabyDemographics.NHSNumberBaby"
    assert issue.message.startswith("NHSNumberBaby:") and "modulus-11" in issue.message


def test_missing_and_unknown_fields_are_named(catalog: MappingCatalog) -> None:
    system = catalog.system("health-visiting")
    record = copy.deepcopy(sample(system, "new-birth-visit-ava"))
    del record["CYP201CareContact"][0]["Contact_Date"]
    record["CYP101Referral"][0]["ReferalPriority"] = "urgent"  # misspelt
    fields = {i.field for i in system.to_fhir(record).issues}
    assert "CYP201CareContact.0.Contact_Date" in fields
    assert "CYP101Referral.0.ReferalPriority" in fields


def test_code_outside_the_data_set_list_is_a_schema_issue(catalog: MappingCatalog) -> None:
    system = catalog.system("maternity")
    record = copy.deepcopy(sample(system, "postnatal-visit-concern-noah"))
    record["MSD101PregnancyBooking"]["SourceRefMat"] = "42"
    [issue] = system.to_fhir(record).issues
    assert issue.field == "MSD101PregnancyBooking.SourceRefMat" and "42" in issue.message


def test_code_missing_from_a_conceptmap_names_code_field_and_map(tmp_path, catalog: MappingCatalog) -> None:  # type: ignore[no-untyped-def]
    """A code the schema allows but the ConceptMap lacks (a map behind its data set)."""
    import shutil
    from pathlib import Path

    from service.mapping import MappingCatalog as Catalog

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "mappings", tmp_path / "mappings")
    shutil.copytree(root / "profiles", tmp_path / "profiles")
    map_file = tmp_path / "mappings/maternity/conceptmaps/SourceRefMat-to-dyad.json"
    text = map_file.read_text().replace('"code": "01"', '"code": "01-retired"')
    map_file.write_text(text)
    system = Catalog.load(tmp_path / "mappings").system("maternity")
    record = copy.deepcopy(sample(system, "postnatal-father-care-plan-ava"))  # SourceRefMat 01
    result = system.to_fhir(record)
    assert result.bundle is None
    [issue] = [i for i in result.issues if i.severity == "error"]
    assert issue.code == "code-invalid" and issue.field == "SourceRefMat" and issue.value == "01"
    assert issue.conceptmap == "https://w3id.org/dyad/fhir/mappings/maternity/ConceptMap/SourceRefMat-to-dyad"
    assert "'01'" in issue.message and issue.conceptmap in issue.message


def test_cross_reference_to_an_id_not_in_the_record(catalog: MappingCatalog) -> None:
    system = catalog.system("health-visiting")
    record = copy.deepcopy(sample(system, "new-birth-visit-ava"))
    record["CYP101Referral"][0]["ReasonAssessmentIDs"] = ["RA-NOT-HERE"]
    result = system.to_fhir(record)
    assert result.bundle is None
    assert any(i.field == "ServiceRequest.reasonReference" for i in result.issues)


def test_text_that_looks_like_a_template_stays_text(catalog: MappingCatalog) -> None:
    system = catalog.system("health-visiting")
    record = copy.deepcopy(sample(system, "new-birth-visit-ava"))
    record["RelationshipAssessments"][0]["AssessmentNote"] = "Mum wrote {{ %record.RecordID }} on the form"
    bundle = system.to_fhir(record).bundle
    assert bundle is not None
    [observation] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observation["note"][0]["text"] == "Mum wrote {{ %record.RecordID }} on the form"


def test_not_a_bundle(catalog: MappingCatalog) -> None:
    result = catalog.system("maternity").from_fhir({"resourceType": "Patient"})
    assert not result.ok and result.record is None
