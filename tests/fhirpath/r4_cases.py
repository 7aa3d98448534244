"""HL7's FHIRPath R4 test cases (../shared/conformance/fhirpath-r4), run against Dyad's engine."""

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from service import fhirpath
from service.fhirpath.values import FHIRPathError, Node, Quantity, Temporal, as_string, system
from tests.fhirpath.fhir_xml import read_xml

REPO = Path(__file__).resolve().parents[2]
# CI puts shared/ beside the clone; a worktree under /work/wt/ has it two levels up.
_CANDIDATES = (REPO / ".." / "shared", REPO / ".." / ".." / "shared")
CLOCK = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def cases_dir() -> Path | None:
    for base in _CANDIDATES:
        folder = base / "conformance" / "fhirpath-r4"
        if (folder / "tests-fhir-r4.xml").is_file():
            return folder.resolve()
    return None


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    expression: str
    inputfile: str | None
    invalid: str | None
    predicate: bool
    ordered: bool
    outputs: tuple[tuple[str, str], ...]


def load_cases(folder: Path) -> list[Case]:
    root = etree.parse(str(folder / "tests-fhir-r4.xml")).getroot()
    cases: list[Case] = []
    names: set[str] = set()
    for group in root.iter("group"):
        for test in group.iter("test"):
            expression = test.find("expression")
            name = test.get("name")
            while name in names:  # testEquivalent23 is in the file twice
                name += "'"
            names.add(name)
            cases.append(
                Case(
                    name=name,
                    group=group.get("name"),
                    expression=expression.text or "",
                    inputfile=test.get("inputfile"),
                    invalid=expression.get("invalid"),
                    predicate=test.get("predicate") == "true",
                    ordered=test.get("ordered") != "false",
                    outputs=tuple((o.get("type"), o.text or "") for o in test.findall("output")),
                )
            )
    return cases


@cache
def load_input(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    if name.endswith(".json"):
        return json.loads(path.read_text(), parse_float=Decimal)
    return read_xml(path.read_bytes())


def text_of(item: Any) -> str:
    value = system(item)
    if type(value) is Node:
        return json.dumps(value.value, default=str, sort_keys=True)
    if type(value) is Quantity:
        return f"{value.value} '{value.unit}'"
    if type(value) is Temporal:
        return str(value)
    text = as_string(value)
    return text if text is not None else str(value)


def _expected(kind: str | None, text: str) -> str:
    if kind in (None, "date", "dateTime", "time") and text.startswith("@T"):
        return text[2:]
    if kind in (None, "date", "dateTime") and text.startswith("@"):
        return text[1:]
    return text


def run_case(folder: Path, case: Case) -> str | None:
    """None when the engine passes the case, else what went wrong."""
    resource = load_input(folder, case.inputfile) if case.inputfile else None
    try:
        compiled = fhirpath.compile(case.expression, strict=True)
        result = compiled.nodes(resource, clock=CLOCK)
        if case.predicate:
            result = [bool(result)]
    except (FHIRPathError, RecursionError) as exc:
        return None if case.invalid else f"error: {exc}"
    if case.invalid:
        return f"expected a {case.invalid} error, got {[text_of(r) for r in result]}"
    got = [text_of(r) for r in result]
    wanted = [_expected(kind, text) for kind, text in case.outputs]
    if not case.ordered:
        got, wanted = sorted(got), sorted(wanted)
    return None if got == wanted else f"got {got}, expected {wanted}"


def run_all(folder: Path) -> dict[str, str | None]:
    return {case.name: run_case(folder, case) for case in load_cases(folder)}


if __name__ == "__main__":
    found = cases_dir()
    assert found is not None, "shared/conformance/fhirpath-r4 not found"
    results = {c.name: (c, run_case(found, c)) for c in load_cases(found)}
    failures = {n: (c, r) for n, (c, r) in results.items() if r is not None}
    for name, (case, reason) in failures.items():
        print(f"{name}\t{case.expression!r}\t{reason}")
    print(f"passed {len(results) - len(failures)} of {len(results)}", os.linesep)
