"""`dyad map --from SYSTEM FILE` and `dyad map --to SYSTEM FILE`, offline.

--from: FILE is a record (JSON) of SYSTEM; prints the FHIR transaction Bundle it becomes.
--to:   FILE is a FHIR Bundle; prints SYSTEM's record of it (from that system's point of view).
Issues and what the target cannot hold go to stderr; exit 1 when the input is bad.
"""

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from service.mapping.catalog import MappingCatalog
from service.mapping.results import MappingResult

DEFAULT_MAPPINGS = Path("mappings")


def register(subparsers: Any) -> None:
    """Adds `map` to the `dyad` command's subparsers."""
    parser = subparsers.add_parser("map", help="map a source record to FHIR, or FHIR to a source record (offline)")
    direction = parser.add_mutually_exclusive_group(required=True)
    direction.add_argument(
        "--from", dest="from_system", metavar="SYSTEM", help="FILE is a SYSTEM record; print the Bundle"
    )
    direction.add_argument("--to", dest="to_system", metavar="SYSTEM", help="FILE is a Bundle; print the SYSTEM record")
    parser.add_argument("file", type=Path, metavar="FILE", help="JSON file, or - for stdin")
    parser.add_argument(
        "--subject", help="--to: NHS number or Patient/id of the record's subject when the Bundle holds several"
    )
    parser.add_argument("--organisation", help="--to: ODS code of the organisation the record is rendered for")
    parser.add_argument("--mappings", type=Path, default=DEFAULT_MAPPINGS, help="mappings folder (default ./mappings)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        catalog = MappingCatalog.load(args.mappings)
        system = catalog.system(args.from_system or args.to_system)
        document = _read(args.file)
    except (OSError, KeyError, orjson.JSONDecodeError) as exc:
        print(f"dyad map: {exc}", file=err)
        return 2
    if args.from_system:
        result = system.to_fhir(document)
        output = result.bundle
    else:
        result = system.from_fhir(document, subject=args.subject, organisation=args.organisation)
        output = result.record
    report(result, err)
    if not result.ok or output is None:
        return 1
    out.write(orjson.dumps(output, option=orjson.OPT_INDENT_2).decode())
    out.write("\n")
    return 0


def report(result: MappingResult, err: TextIO) -> None:
    for issue in result.issues:
        where = f" [{issue.field}]" if issue.field else ""
        print(f"{issue.severity}{where}: {issue.message}", file=err)
    for item in result.unmappable:
        values = f" ({', '.join(item.values)})" if item.values else ""
        print(f"not held{values} [{item.field}]: {item.reason}", file=err)


def _read(path: Path) -> Any:
    raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    return orjson.loads(raw)
