from service.search.registry import SearchRegistry, narrow_expression, split_union


def test_shared_expression_is_narrowed_to_the_searched_type(registry: SearchRegistry) -> None:
    code = registry.get("Observation", "code")
    assert code is not None
    assert code.expression == "Observation.code"
    assert registry.get("ServiceRequest", "code").expression == "ServiceRequest.code"  # type: ignore[union-attr]


def test_every_type_has_the_resource_level_parameters(registry: SearchRegistry) -> None:
    params = registry.params_for("Task")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"):
        assert code in params
    assert params["_tag"].expression == "Task.meta.tag"


def test_id_and_last_updated_have_no_expression_because_the_resource_table_answers_them(
    registry: SearchRegistry,
) -> None:
    assert registry.get("Patient", "_id").expression is None  # type: ignore[union-attr]
    assert registry.get("Patient", "_lastUpdated").type == "date"  # type: ignore[union-attr]


def test_parameters_without_an_expression_are_left_out(registry: SearchRegistry) -> None:
    for code in ("_text", "_content", "_filter", "_has", "_list", "_query", "_type"):
        assert registry.get("Observation", code) is None


def test_reference_targets_and_composite_components_are_kept(registry: SearchRegistry) -> None:
    based_on = registry.get("Observation", "based-on")
    assert based_on is not None and set(based_on.targets) == {"CarePlan", "ServiceRequest"}
    composite = registry.get("Observation", "code-value-quantity")
    assert composite is not None and composite.type == "composite"
    assert [c.expression for c in composite.components] == ["code", "value.as(Quantity)"]


def test_later_definitions_replace_earlier_ones_of_the_same_code() -> None:
    base = {
        "resourceType": "SearchParameter",
        "url": "u1",
        "code": "x",
        "base": ["Patient"],
        "type": "token",
        "expression": "Patient.gender",
    }
    own = dict(base, url="u2", type="string", expression="Patient.name")
    registry = SearchRegistry.from_definitions([base, own])
    param = registry.get("Patient", "x")
    assert param is not None and (param.type, param.url) == ("string", "u2")
    assert registry.types() == frozenset({"Patient"})


def test_dyad_search_parameters_in_profiles_are_loaded(registry: SearchRegistry) -> None:
    from service.config import PROJECT_ROOT

    own = sorted((PROJECT_ROOT / "profiles").glob("SearchParameter-*.json"))
    import orjson

    for path in own:
        definition = orjson.loads(path.read_bytes())
        for base in definition["base"]:
            param = registry.get(base, definition["code"])
            assert param is not None and param.url == definition["url"]


def test_union_is_split_only_at_the_top_level() -> None:
    assert split_union("a.b | (c.d as X) | e.where(f = 'x|y')") == ["a.b", "(c.d as X)", "e.where(f = 'x|y')"]


def test_narrowing_keeps_parenthesised_branches_of_the_type() -> None:
    expression = "(Observation.value as Quantity) | (Condition.x as Quantity) | Observation.code"
    assert narrow_expression(expression, "Observation") == "(Observation.value as Quantity) | Observation.code"
    assert narrow_expression(expression, "Patient") is None
