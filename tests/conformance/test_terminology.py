"""$expand, $validate-code, $lookup and $translate over the guide's own terminology."""

import pytest

from service.conformance.package import ProfilePackage
from service.conformance.terminology import ExpansionError, Terminology

DYAD = "https://w3id.org/dyad/fhir"
INSTRUMENTS_VS = f"{DYAD}/ValueSet/dyad-instruments"
INSTRUMENTS = f"{DYAD}/CodeSystem/dyad-instruments"
CONCEPTS = f"{DYAD}/CodeSystem/dyad-concepts"
CONCERN_VS = f"{DYAD}/ValueSet/dyad-concern-level"
CONCERN = f"{DYAD}/CodeSystem/dyad-concern-level"
RELATIONSHIP_VS = f"{DYAD}/ValueSet/dyad-caregiver-relationship"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SNOMED = "http://snomed.info/sct"


def codes(expansion: dict) -> list[str]:
    return [c["code"] for c in expansion["expansion"]["contains"]]


def test_expand_descendent_of_filters_leave_out_the_grouping_concepts(terminology: Terminology) -> None:
    found = codes(terminology.expand(INSTRUMENTS_VS))
    assert "care-index" in found and "pbq" in found
    assert "observational-instrument" not in found and "self-report-instrument" not in found


def test_expand_is_a_filter_includes_the_concept_itself(terminology: Terminology) -> None:
    found = codes(terminology.expand(f"{DYAD}/ValueSet/dyad-relationship-assessment-codes"))
    assert found[0] == "relationship-assessment" and "interaction-observation" in found


def test_expand_whole_system_include_lists_every_concept(terminology: Terminology) -> None:
    assert codes(terminology.expand(CONCERN_VS)) == ["no-concern", "some-concern", "significant-concern"]


def test_expand_filter_matches_code_or_display_ignoring_case(terminology: Terminology) -> None:
    result = terminology.expand(INSTRUMENTS_VS, filter="SCALE")
    assert result["expansion"]["total"] == len(codes(result)) > 0
    assert all("scale" in (c.get("display", "") + c["code"]).lower() for c in result["expansion"]["contains"])


def test_expand_count_and_offset_page_through_the_total(terminology: Terminology) -> None:
    everything = codes(terminology.expand(INSTRUMENTS_VS))
    page = terminology.expand(INSTRUMENTS_VS, count=3, offset=2)
    assert codes(page) == everything[2:5]
    assert page["expansion"]["total"] == len(everything) and page["expansion"]["offset"] == 2


def test_expand_lists_explicit_codes_of_systems_dyad_does_not_hold(terminology: Terminology) -> None:
    found = codes(terminology.expand(RELATIONSHIP_VS))
    assert "NMTH" in found and "co-parent" in found


def test_expand_of_an_unknown_value_set_is_an_error(terminology: Terminology) -> None:
    with pytest.raises(ExpansionError):
        terminology.expand(f"{DYAD}/ValueSet/nope")


def test_validate_code_member_and_non_member(terminology: Terminology) -> None:
    assert terminology.validate_code(CONCERN_VS, CONCERN, "some-concern").result is True
    assert terminology.validate_code(CONCERN_VS, CONCERN, "huge-concern").result is False
    assert terminology.validate_code(CONCERN_VS, CONCEPTS, "physical-care").result is False


def test_validate_code_rejects_a_grouping_concept(terminology: Terminology) -> None:
    check = terminology.validate_code(
        f"{DYAD}/ValueSet/dyad-relationship-assessment-codes", CONCEPTS, "relationship-assessment"
    )
    assert check.result is True  # is-a includes it and it is selectable
    grouping = terminology.validate_code(None, INSTRUMENTS, "observational-instrument")
    assert grouping.result is True  # a code of the system, even if not for use in data


def test_validate_code_flags_a_wrong_display_but_keeps_the_code(terminology: Terminology) -> None:
    check = terminology.validate_code(CONCERN_VS, CONCERN, "some-concern", display="Tiny")
    assert check.result is True and check.display_ok is False and check.display == "Some concern"


def test_validate_code_of_a_listed_unheld_code_is_decided_by_the_list(terminology: Terminology) -> None:
    assert terminology.validate_code(RELATIONSHIP_VS, ROLE_CODE, "NMTH").result is True
    assert terminology.validate_code(RELATIONSHIP_VS, ROLE_CODE, "FRND").result is False


def test_validate_code_of_an_unheld_system_without_value_set_is_not_checked(terminology: Terminology) -> None:
    check = terminology.validate_code(None, SNOMED, "281900007")
    assert check.result is None and "not checked" in check.message


def test_validate_code_of_a_system_the_value_set_does_not_use_is_invalid(terminology: Terminology) -> None:
    assert terminology.validate_code(CONCERN_VS, SNOMED, "281900007").result is False


def test_validate_code_bare_code_against_value_set(terminology: Terminology) -> None:
    assert terminology.validate_code(CONCERN_VS, None, "no-concern").result is True
    assert terminology.validate_code(CONCERN_VS, None, "nope").result is False


def test_lookup_gives_display_definition_hierarchy_and_properties(terminology: Terminology) -> None:
    found = terminology.lookup(CONCEPTS, "nice-domain")
    assert found is not None and found["display"] and found["abstract"] is True
    props = {(p["code"], p.get("valueCode")) for p in found["property"]}
    assert ("parent", "relationship-domain") in props and ("child", "verbal-interaction") in props


def test_lookup_of_an_unknown_code_or_system_is_none(terminology: Terminology) -> None:
    assert terminology.lookup(CONCEPTS, "nope") is None
    assert terminology.lookup(SNOMED, "281900007") is None


def _with_concept_map(package: ProfilePackage) -> Terminology:
    concept_map = {
        "resourceType": "ConceptMap",
        "id": "hv-concern",
        "url": "https://example.org/fhir/ConceptMap/hv-concern",
        "sourceUri": "https://example.org/fhir/ValueSet/hv-rag",
        "targetUri": CONCERN_VS,
        "group": [
            {
                "source": "https://example.org/hv/rag",
                "target": CONCERN,
                "element": [
                    {
                        "code": "G",
                        "target": [{"code": "no-concern", "display": "No concern", "equivalence": "equivalent"}],
                    },
                    {"code": "A", "target": [{"code": "some-concern", "equivalence": "wider"}]},
                ],
                "unmapped": {"mode": "fixed", "code": "some-concern"},
            }
        ],
    }
    return Terminology(ProfilePackage(package.resources + (concept_map,), package.digest))


def test_translate_by_concept_map_url(package: ProfilePackage) -> None:
    terminology = _with_concept_map(package)
    [match] = terminology.translate(
        "https://example.org/hv/rag", "G", conceptmap_url="https://example.org/fhir/ConceptMap/hv-concern"
    )
    assert match["equivalence"] == "equivalent"
    assert match["concept"] == {"system": CONCERN, "code": "no-concern", "display": "No concern"}


def test_translate_by_source_and_target_value_sets(package: ProfilePackage) -> None:
    terminology = _with_concept_map(package)
    [match] = terminology.translate(
        "https://example.org/hv/rag", "A", source="https://example.org/fhir/ValueSet/hv-rag", target=CONCERN_VS
    )
    assert match["concept"]["code"] == "some-concern" and match["equivalence"] == "wider"


def test_translate_unmapped_fixed_code_and_no_match(package: ProfilePackage) -> None:
    terminology = _with_concept_map(package)
    [fallback] = terminology.translate("https://example.org/hv/rag", "R")
    assert fallback["concept"]["code"] == "some-concern"
    assert terminology.translate("https://example.org/other", "R") == []
