"""`dyad fhirpath EXPRESSION FILE`: evaluate an expression over a resource, for engineers
writing invariants, search parameters and rules.

Prints the result collection as JSON. Exit 0 on success, 1 when the expression fails (syntax,
semantic or execution error), 2 on a usage error (bad arguments, unreadable or non-JSON file).
"""

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from service import fhirpath
from service.fhirpath.values import FHIRPathError, Quantity, Temporal


def register(subparsers: Any) -> None:
    """Adds `fhirpath` to the `dyad` command's subparsers."""
    parser = subparsers.add_parser("fhirpath", help="evaluate a FHIRPath expression over a FHIR JSON file")
    parser.add_argument("expression", metavar="EXPRESSION")
    parser.add_argument("file", metavar="FILE", help="a FHIR resource as JSON, or - for stdin")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an %%NAME variable, its value as JSON (a string without quotes is taken as text)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="unknown element names and JSON choice names (valueQuantity) are errors"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        resource = _read(args.file)
        variables = dict(_variable(v) for v in args.var)
    except (OSError, ValueError) as exc:
        print(f"dyad fhirpath: {exc}", file=err)
        return 2
    try:
        result = fhirpath.compile(args.expression, strict=args.strict).evaluate(resource, variables)
    except FHIRPathError as exc:
        print(f"dyad fhirpath: {exc}", file=err)
        return 1
    out.write(to_json(result))
    out.write("\n")
    return 0


def _read(name: str) -> Any:
    if name != "-" and Path(name).suffix.lower() == ".xml":
        raise ValueError("FHIR XML input is not read yet: convert the file to JSON")
    text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from exc


def _variable(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--var takes NAME=VALUE, not {text!r}")
    try:
        return name, json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError:
        return name, raw


def to_json(value: Any, depth: int = 0) -> str:
    """JSON text of a result; a Decimal keeps its own digits (1.80 stays 1.80)."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Temporal):
        return json.dumps(str(value))
    if isinstance(value, Quantity):
        value = {"value": value.value, "unit": value.unit}
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {to_json(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{to_json(v, depth + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)
