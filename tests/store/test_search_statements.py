"""SearchStatements keeps the most recently used statements, a bounded number of them."""

from service.store.search_statements import SearchStatements


def test_a_shape_is_built_once_and_the_least_recently_used_goes_first() -> None:
    statements = SearchStatements(size=2)
    built: list[str] = []

    def build(shape: str) -> str:
        built.append(shape)
        return f"statement {shape}"

    assert statements.get("a", lambda: build("a")) == "statement a"
    assert statements.get("a", lambda: build("a")) == "statement a"
    statements.get("b", lambda: build("b"))
    statements.get("a", lambda: build("a"))  # a is now the most recently used
    statements.get("c", lambda: build("c"))  # past the bound: b goes
    statements.get("a", lambda: build("a"))
    statements.get("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]
    assert len(statements) == 2
