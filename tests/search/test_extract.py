from datetime import UTC, datetime
from decimal import Decimal

from service.search.extract import (
    DateRow,
    QuantityRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
    index_rows,
)
from service.search.registry import SearchRegistry
from tests.search.samples import DYAD, NHS, OBSERVATION, PATIENT, QUESTIONNAIRE, TASK

UTC = UTC


def test_codeable_concept_indexes_each_coding_and_its_text_for_the_text_modifier(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Observation", OBSERVATION)
    code_rows = [r for r in rows.token if r.param == "code"]
    assert code_rows == [
        TokenRow("code", DYAD, "relationship", "parent–infant relationship"),
        TokenRow("code", None, None, "relationship observation"),
    ]


def test_identifier_contact_point_code_and_boolean_index_as_tokens(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Patient", PATIENT)
    tokens = {(r.param, r.system, r.code) for r in rows.token}
    assert ("identifier", NHS, "9000000009") in tokens
    assert ("phone", "phone", "0123") in tokens
    assert ("email", "email", "a@b.example") in tokens
    assert ("gender", None, "female") in tokens
    assert ("active", None, "true") in tokens
    assert ("deceased", None, "false") in tokens
    identifier = next(r for r in rows.token if r.param == "identifier")
    assert identifier.text == "nhs number"


def test_human_name_indexes_every_part_normalised_and_exact(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Patient", PATIENT)
    names = {(r.value, r.exact) for r in rows.string if r.param == "name"}
    assert names == {("nunez-o'brien", "Ñúñez-O'Brien"), ("zoe", "Zoë"), ("ann", "Ann"), ("miss", "Miss")}
    assert StringRow("family", "nunez-o'brien", "Ñúñez-O'Brien") in rows.string
    assert {r.value for r in rows.string if r.param == "address"} == {"1 high st", "leeds", "ls1 1aa", "uk"}


def test_period_is_indexed_from_its_start_to_the_end_of_its_end(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Observation", OBSERVATION)
    assert (
        DateRow(
            "date",
            datetime(2024, 3, 5, 9, 30, tzinfo=UTC),
            datetime(2024, 3, 5, 23, 59, 59, 999999, tzinfo=UTC),
        )
        in rows.date
    )


def test_open_period_and_partial_date_reach_the_edges_of_their_precision(registry: SearchRegistry) -> None:
    birth = [r for r in index_rows(registry, "Patient", PATIENT).date if r.param == "birthdate"]
    assert birth == [
        DateRow("birthdate", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC))
    ]
    period = [r for r in index_rows(registry, "Task", TASK).date if r.param == "period"]
    assert period[0].high == datetime(2024, 3, 20, 23, 59, 59, 999999, tzinfo=UTC)


def test_references_split_relative_ones_and_keep_absolute_ones_as_urls(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Observation", OBSERVATION)
    assert ReferenceRow("subject", "Patient", "baby-1", None) in rows.reference
    assert ReferenceRow("patient", "Patient", "baby-1", None) in rows.reference
    assert ReferenceRow("encounter", "Encounter", "enc-1", None) in rows.reference  # _history dropped
    assert (
        ReferenceRow("derived-from", None, None, "http://other.example.org/fhir/QuestionnaireResponse/qr-9")
        in rows.reference
    )


def test_canonicals_index_as_reference_urls_and_uris_as_uris(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Questionnaire", QUESTIONNAIRE)
    assert UriRow("url", QUESTIONNAIRE["url"]) in rows.uri
    assert UriRow("definition", "https://example.org/def#1") in rows.uri


def test_quantity_keeps_value_precision_and_units(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Observation", OBSERVATION)
    assert (
        QuantityRow(
            "value-quantity",
            Decimal("12.5"),
            Decimal("12.45"),
            Decimal("12.55"),
            "http://unitsofmeasure.org",
            "{score}",
        )
        in rows.quantity
    )


def test_resource_level_meta_is_indexed_for_every_type(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Observation", OBSERVATION)
    assert TokenRow("_tag", "http://example.org/tags", "home-visit", None) in rows.token
    assert UriRow("_source", "https://hv.example.org/app") in rows.uri
    assert any(r.param == "_profile" for r in rows.uri)


def test_duplicate_values_index_once(registry: SearchRegistry) -> None:
    observation = dict(OBSERVATION, component=[{"code": OBSERVATION["code"]}])
    rows = index_rows(registry, "Observation", observation)
    combo = [r for r in rows.token if r.param == "combo-code"]
    assert len(combo) == len(set(combo)) == 2


def test_a_malformed_stored_date_indexes_nothing_instead_of_failing(registry: SearchRegistry) -> None:
    rows = index_rows(registry, "Observation", dict(OBSERVATION, effectivePeriod=None, effectiveDateTime="soon"))
    assert [r for r in rows.date if r.param == "date"] == []
