from datetime import UTC, datetime
from decimal import Decimal

import pytest

from service.search.query import (
    ChainFilter,
    DateValue,
    ExactValue,
    HasFilter,
    IdValue,
    MissingFilter,
    NumberValue,
    ParamFilter,
    ReferenceValue,
    SearchError,
    TextValue,
    TokenValue,
    parse_search,
)
from service.search.registry import SearchRegistry

UTC = UTC


def _one(registry: SearchRegistry, res_type: str, name: str, value: str) -> ParamFilter:
    query = parse_search(registry, res_type, [(name, value)], strict=True)
    (found,) = query.filters
    assert isinstance(found, ParamFilter)
    return found


def test_token_forms_distinguish_any_system_no_system_and_any_code(registry: SearchRegistry) -> None:
    values = _one(registry, "Observation", "code", r"c1,sys|c2,|c3,sys|,a\,b").values
    assert values == (
        TokenValue("c1", None, system_given=False),
        TokenValue("c2", "sys", system_given=True),
        TokenValue("c3", None, system_given=True),
        TokenValue(None, "sys", system_given=True),
        TokenValue("a,b", None, system_given=False),
    )


def test_token_text_modifier_is_normalised(registry: SearchRegistry) -> None:
    found = _one(registry, "Observation", "code:text", "Réla")
    assert found.modifier == "text" and found.values == (TextValue("rela"),)


def test_string_default_is_normalised_and_exact_keeps_the_text(registry: SearchRegistry) -> None:
    assert _one(registry, "Patient", "family", "NÚÑEZ").values == (TextValue("nunez"),)
    assert _one(registry, "Patient", "family:exact", "Núñez").values == (ExactValue("Núñez"),)


def test_date_prefixes_are_parsed_with_the_search_value_as_a_range(registry: SearchRegistry) -> None:
    (value,) = _one(registry, "Observation", "date", "ge2024").values
    assert value == DateValue(
        "ge", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    )
    for prefix in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"):
        (parsed,) = _one(registry, "Observation", "date", f"{prefix}2024-03-05").values
        assert isinstance(parsed, DateValue) and parsed.prefix == prefix


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("date", "2024-13-01", "not a valid date"),
        ("date", "yesterday", "Unknown prefix"),
        ("date", "xx2024", "Unknown prefix"),
        ("value-quantity", "ab5", "Unknown prefix"),
        ("value-quantity", "5|x", "number|system|code"),
        ("code:exact", "x", "modifier ':exact'"),
        ("subject:Device", "1", "cannot point at Device"),
        ("code:missing", "maybe", "true or false"),
        ("code-value-quantity", "x", "not supported"),
    ],
)
def test_bad_values_and_modifiers_are_refused_with_a_clear_message(
    registry: SearchRegistry, name: str, value: str, message: str
) -> None:
    with pytest.raises(SearchError, match=message):
        parse_search(registry, "Observation", [(name, value)], strict=False)


def test_quantity_with_system_and_code_and_with_code_only(registry: SearchRegistry) -> None:
    full, code_only = _one(
        registry, "Observation", "value-quantity", "gt5.4|http://unitsofmeasure.org|mg,5.4||mg"
    ).values
    assert full == NumberValue(
        "gt", Decimal("5.4"), Decimal("5.35"), Decimal("5.45"), "http://unitsofmeasure.org", "mg", True
    )
    assert isinstance(code_only, NumberValue) and (code_only.system, code_only.code, code_only.system_given) == (
        None,
        "mg",
        False,
    )


def test_reference_forms_id_type_and_id_url_and_type_modifier(registry: SearchRegistry) -> None:
    bare, typed, url = _one(registry, "Observation", "subject", "p1,Patient/p2,http://x.example/fhir/Patient/p3").values
    assert bare == ReferenceValue(("Practitioner", "Organization", "Patient"), "p1", None)
    assert typed == ReferenceValue(("Patient",), "p2", None)
    assert url == ReferenceValue((), None, "http://x.example/fhir/Patient/p3")
    assert _one(registry, "Observation", "subject:Patient", "p1").values == (ReferenceValue(("Patient",), "p1", None),)


def test_chain_uses_the_targets_that_define_the_chained_parameter(registry: SearchRegistry) -> None:
    query = parse_search(registry, "Observation", [("subject.name", "zoe")], strict=True)
    (chain,) = query.filters
    assert isinstance(chain, ChainFilter)
    assert {t for t, _ in chain.targets} == {"Practitioner", "Patient", "Organization"}
    typed = parse_search(registry, "Observation", [("subject:Patient.identifier", "sys|1")], strict=True).filters[0]
    assert isinstance(typed, ChainFilter) and [t for t, _ in typed.targets] == ["Patient"]


def test_has_names_the_referring_type_and_its_reference(registry: SearchRegistry) -> None:
    (found,) = parse_search(registry, "Patient", [("_has:Observation:subject:code", "x")], strict=True).filters
    assert isinstance(found, HasFilter) and found.source_type == "Observation"
    assert found.reference_param.code == "subject"
    with pytest.raises(SearchError, match="cannot point at"):
        parse_search(registry, "Goal", [("_has:Observation:subject:code", "x")], strict=True)


def test_missing_is_accepted_on_every_parameter_type(registry: SearchRegistry) -> None:
    for code in ("code", "date", "subject", "value-quantity", "value-string", "_profile"):
        (found,) = parse_search(registry, "Observation", [(f"{code}:missing", "true")], strict=True).filters
        assert isinstance(found, MissingFilter) and found.missing


def test_unknown_parameters_are_listed_when_lenient_and_refused_when_strict(registry: SearchRegistry) -> None:
    query = parse_search(registry, "Observation", [("nonsense", "1"), ("status", "final")], strict=False)
    assert query.unknown == ["nonsense"]
    assert query.link_params() == [("status", "final")]
    with pytest.raises(SearchError, match="nonsense"):
        parse_search(registry, "Observation", [("nonsense", "1")], strict=True)


def test_repeated_parameters_and_while_commas_or(registry: SearchRegistry) -> None:
    query = parse_search(registry, "Observation", [("code", "a,b"), ("code", "c")], strict=True)
    assert [len(f.values) for f in query.filters if isinstance(f, ParamFilter)] == [2, 1]


def test_result_parameters(registry: SearchRegistry) -> None:
    query = parse_search(
        registry,
        "Observation",
        [
            ("_sort", "-date,_id"),
            ("_count", "10"),
            ("_offset", "20"),
            ("_summary", "count"),
            ("_elements", "id,status"),
            ("_total", "accurate"),
            ("_include", "Observation:subject:Patient"),
            ("_revinclude:iterate", "Provenance:target"),
            ("_include", "Observation:*"),
            ("_id", "a,b"),
            ("_format", "json"),
        ],
        strict=True,
    )
    assert [(k.param.code, k.descending) for k in query.sort] == [("date", True), ("_id", False)]
    assert (query.count, query.offset, query.summary, query.total) == (10, 20, "count", "accurate")
    assert query.elements == ["id", "status"]
    assert [(i.source_type, i.param.code if i.param else "*", i.target_type, i.iterate) for i in query.includes] == [
        ("Observation", "subject", "Patient", False),
        ("Observation", "*", None, False),
    ]
    assert query.revincludes[0].iterate and query.revincludes[0].source_type == "Provenance"
    assert query.filters[0].values == (IdValue("a"), IdValue("b"))  # type: ignore[union-attr]
    assert ("_count", "10") not in query.link_params() and ("_sort", "-date,_id") in query.link_params()
    assert all(name != "_format" for name, _ in query.link_params())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_count", "-1"),
        ("_count", "ten"),
        ("_sort", "nonsense"),
        ("_summary", "maybe"),
        ("_total", "some"),
        ("_include", "Observation"),
        ("_include", "Observation:status"),
    ],
)
def test_bad_result_parameters_are_refused(registry: SearchRegistry, name: str, value: str) -> None:
    with pytest.raises(SearchError):
        parse_search(registry, "Observation", [(name, value)], strict=False)
