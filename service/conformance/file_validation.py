"""Validate files offline (`dyad validate`): resources, Bundles and NDJSON, in three report formats."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson

from service.conformance.admission import Admission
from service.conformance.fhir_xml import FhirXmlError, from_xml
from service.conformance.issues import Issue


@dataclass(frozen=True)
class Checked:
    """One resource found in the input, where it was found, and what was wrong with it."""

    location: str  # file, file#entry[3], or file:line
    res_type: str
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> int:
        return sum(1 for i in self.issues if i.severity in ("error", "fatal"))


class UnknownProfile(Exception):
    pass


def resolve_profile(admission: Admission, name: str) -> str:
    """A profile's canonical URL from its URL, id or name (dyad-referral, DyadReferral)."""
    profiles = admission.validator.profiles
    if name.split("|", 1)[0] in profiles:
        return name
    for url, compiled in profiles.items():
        if name in (url.rsplit("/", 1)[-1], compiled.name):
            return url
    raise UnknownProfile(
        f"no profile {name!r} in the guide; known: {', '.join(sorted(u.rsplit('/', 1)[-1] for u in profiles))}"
    )


def validate_paths(admission: Admission, paths: Sequence[Path], profile: str | None = None) -> list[Checked]:
    """Each resource held to what a write holds it to (the R4 core, its claimed profiles, those of
    its Dyad kind, DYAD_REQUIRED_PROFILES), and to `profile` too when given. A Bundle's entries
    are reported on their own, each with its profiles."""
    return [
        Checked(location, str(resource.get("resourceType", "?")), tuple(_issues(admission, resource, profile)))
        for location, resource in _resources(paths)
    ]


def _issues(admission: Admission, resource: Any, profile: str | None) -> list[Issue]:
    if isinstance(resource, _Unreadable):
        return [Issue("fatal", "structure", resource.reason)]
    if not isinstance(resource, dict):
        return [Issue("fatal", "structure", "not a FHIR resource: a JSON object with resourceType is needed")]
    profiles = admission.profiles_for(resource)
    if profile and profile not in profiles:
        profiles.append(profile)
    return admission.validator.validate(resource, profiles)


@dataclass(frozen=True)
class _Unreadable:
    reason: str

    def get(self, _key: str, default: Any = None) -> Any:
        return default


def _resources(paths: Sequence[Path]) -> Iterator[tuple[str, Any]]:
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson", ".xml")) if path.is_dir() else [path]
        )
        for file in files:
            yield from _file_resources(file)


def _file_resources(file: Path) -> Iterator[tuple[str, Any]]:
    raw = file.read_bytes()
    if file.suffix == ".ndjson":
        for number, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                yield f"{file}:{number}", _parse(line)
        return
    document = _parse_xml(raw) if file.suffix == ".xml" else _parse(raw)
    if isinstance(document, dict) and document.get("resourceType") == "Bundle" and document.get("type") != "searchset":
        yield f"{file}", document
        for index, entry in enumerate(document.get("entry") or []):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield f"{file}#entry[{index}]", entry["resource"]
        return
    yield str(file), document


def _parse_xml(raw: bytes) -> Any:
    try:
        return from_xml(raw)
    except FhirXmlError as exc:
        return _Unreadable(f"not FHIR XML: {exc}")


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _Unreadable(f"not valid JSON: {exc}")


def as_text(results: list[Checked]) -> str:
    lines = []
    for checked in results:
        verdict = "FAIL" if checked.errors else "ok"
        lines.append(f"{verdict:4} {checked.location} ({checked.res_type})")
        for issue in checked.issues:
            if issue.severity != "information":
                where = f" at {issue.expression}" if issue.expression else ""
                lines.append(f"     {issue.severity} {issue.code}{where}: {issue.message}")
    failed = sum(1 for c in results if c.errors)
    lines.append(f"{len(results)} resources checked, {failed} with errors")
    return "\n".join(lines)


def as_json(results: list[Checked]) -> str:
    document = [
        {
            "location": c.location,
            "resourceType": c.res_type,
            "valid": c.errors == 0,
            "issues": [
                {"severity": i.severity, "code": i.code, "message": i.message, "expression": i.expression}
                for i in c.issues
            ],
        }
        for c in results
    ]
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def as_junit(results: list[Checked]) -> str:
    """One testcase per resource, so CI systems show each failing resource by name."""
    failures = sum(1 for c in results if c.errors)
    cases = []
    for checked in results:
        name = quoteattr(checked.location)
        errors = [i for i in checked.issues if i.severity in ("error", "fatal")]
        if not errors:
            cases.append(f'  <testcase classname="dyad.validate" name={name}/>')
            continue
        text = escape("\n".join(f"{i.expression or ''}: {i.message}" for i in errors))
        message = quoteattr(f"{len(errors)} error(s)")
        cases.append(
            f'  <testcase classname="dyad.validate" name={name}>\n'
            f"    <failure message={message}>{text}</failure>\n  </testcase>"
        )
    body = "\n".join(cases)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="dyad validate" tests="{len(results)}" failures="{failures}">\n{body}\n</testsuite>'
    )


FORMATS = {"text": as_text, "json": as_json, "junit": as_junit}
