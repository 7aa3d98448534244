"""docs/mappings/<system>.md lists, table by table, every field the templates map, and no other.

The tables are read from the page; the fields a template maps are read from the templates
themselves: outbound.json's output keys (where they sit in the record) and the record fields
inbound.json reads. The schema's fields must be the same set, so nothing is taken in unmapped.
"""

import json
import re
from typing import Any

import pytest

from tests.mapping.conftest import MAPPINGS, ROOT, SYSTEMS

DOCS = ROOT / "docs" / "mappings"
Field = tuple[str, str]  # (table, field); top-level scalar fields sit in table "Record"


def documented(system: str) -> set[Field]:
    found: set[Field] = set()
    table = None
    for line in (DOCS / f"{system}.md").read_text().splitlines():
        if line.startswith("### "):
            table = line[4:].strip()
        elif table and (row := re.match(r"^\| `([A-Za-z_]+)` \|", line)):
            found.add((table, row.group(1)))
    return found


def _child(table: str, key: str) -> str:
    return key if table == "Record" else f"{table}.{key}"


def rendered(node: Any, table: str = "Record") -> set[Field]:
    """The record fields outbound.json writes, by the table they sit in."""
    out: set[Field] = set()
    if isinstance(node, list):
        for item in node:
            out |= rendered(item, table)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("{%"):
                if key != "{% assign %}":
                    out |= rendered(value, table)
            elif isinstance(value, (dict, list)) and _holds_fields(value):
                out |= rendered(value, _child(table, key))
            else:
                out.add((table, key))
    return out


def _holds_fields(value: Any) -> bool:
    """A nested table (an object or a list of objects), not a list of codes written by one expression."""
    if isinstance(value, dict):
        return True
    return any(isinstance(v, dict) for v in value)


def in_schema(schema: dict[str, Any], table: str = "Record") -> set[Field]:
    out: set[Field] = set()
    for key, spec in schema.get("properties", {}).items():
        # A table: an object, a list of objects, or either (maternity's one baby or several).
        kinds = spec.get("type") if isinstance(spec.get("type"), list) else [spec.get("type")]
        nested = {**spec, "type": "object"} if "object" in kinds else spec.get("items", {}) if "array" in kinds else {}
        if nested.get("type") == "object":
            out |= in_schema(nested, _child(table, key))
        else:
            out.add((table, key))
    return out


def read_by_inbound(system: str, names: set[str]) -> set[str]:
    """Which of these field names inbound.json reads (`%var.Field`, `.where(Field = ...)`)."""
    text = (MAPPINGS / system / "inbound.json").read_text()
    return {n for n in names if re.search(rf"(\.|\(|\s){re.escape(n)}\b(?!')", text)}


@pytest.mark.parametrize("system", SYSTEMS)
def test_the_field_table_lists_what_outbound_writes(system: str) -> None:
    outbound = json.loads((MAPPINGS / system / "outbound.json").read_text())
    assert documented(system) == rendered(outbound)


@pytest.mark.parametrize("system", SYSTEMS)
def test_the_field_table_lists_every_field_of_the_schema(system: str) -> None:
    schema = json.loads((MAPPINGS / system / "schema.json").read_text())
    assert documented(system) == in_schema(schema)


@pytest.mark.parametrize("system", SYSTEMS)
def test_inbound_reads_every_field_the_table_lists(system: str) -> None:
    fields = {f for _, f in documented(system)}
    by_engine = {json.loads((MAPPINGS / system / "mapping.json").read_text())["recordIdField"]}  # Provenance
    assert fields - read_by_inbound(system, fields) - by_engine == set()


def test_a_field_the_table_does_not_list_or_a_row_no_template_writes_is_found() -> None:
    """The comparison can fail both ways: a template key the page lacks, a row the template lacks."""
    outbound = json.loads((MAPPINGS / "maternity" / "outbound.json").read_text())
    plan = outbound["MSD102MatCarePlan"]["{% if %cp.exists() %}"]
    assert ("MSD102MatCarePlan", "TeamLocalID") in rendered(outbound)
    plan["CarePlanType"] = "{{ %cp.category.coding.code.first() }}"
    assert ("MSD102MatCarePlan", "CarePlanType") in rendered(outbound) - documented("maternity")
    del plan["TeamLocalID"]
    assert ("MSD102MatCarePlan", "TeamLocalID") in documented("maternity") - rendered(outbound)
