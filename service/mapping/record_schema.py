"""A source system's record checked against its schema.json, with issues in the source's terms."""

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - the slower path still gives the same answers
    jsonschema_rs = None  # type: ignore[assignment]
from jsonschema.exceptions import ValidationError

from service.mapping.results import MappingIssue

NHS_NUMBER_FORMAT = "nhs-number"


def nhs_number_is_valid(value: object) -> bool:
    """10 digits, the last a modulus-11 check digit over the first nine (weights 10..2)."""
    if not isinstance(value, str):
        return True  # the schema's `type` reports non-strings
    if len(value) != 10 or not value.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def _format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checks(NHS_NUMBER_FORMAT)(nhs_number_is_valid)
    return checker


class RecordSchema:
    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = Draft202012Validator(schema, format_checker=_format_checker())
        # jsonschema (pure Python) costs ~2.5 ms a record, more than the whole mapping; the Rust
        # validator answers valid/invalid in ~40 µs. Only an invalid record pays for jsonschema,
        # whose errors carry what the issues need (validator, path, missing property).
        self._gate = (
            jsonschema_rs.validator_for(schema, formats={NHS_NUMBER_FORMAT: nhs_number_is_valid}, validate_formats=True)
            if jsonschema_rs is not None
            else None
        )

    def check(self, record: Any) -> list[MappingIssue]:
        if self._gate is not None and self._gate.is_valid(record):
            return []
        errors = sorted(self._validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
        return [_issue(e) for e in errors]


def _issue(error: ValidationError) -> MappingIssue:
    path = [str(p) for p in error.absolute_path]
    field = _field_name(error, path)
    names_child = error.validator in ("required", "additionalProperties")
    location = ".".join(path + ([field] if names_child else []))
    value = None if isinstance(error.instance, (dict, list)) else str(error.instance)
    if error.validator == "format" and error.validator_value == NHS_NUMBER_FORMAT:
        message = f"{field}: '{error.instance}' is not a valid NHS number (10 digits, modulus-11 check digit)"
    elif error.validator == "additionalProperties":
        message = f"{field} is not a field of {path[-1] if path and not path[-1].isdigit() else (path[-2] if len(path) > 1 else 'the record')}"
    elif error.validator == "required":
        message = f"{field} is required" + (f" in {path[-1]}" if path and not path[-1].isdigit() else "")
    else:
        message = f"{field}: {error.message}"
    code = "required" if error.validator == "required" else "invalid"
    return MappingIssue("error", code, location or field, message, value)


def _field_name(error: ValidationError, path: list[str]) -> str:
    """The data set's own name for the field at fault, not a JSON Pointer."""
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [p for p in error.validator_value if p not in present]
        if missing:
            return missing[0]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema.get("properties") or {}).keys())
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            return extra[0]
    named = [p for p in path if not p.isdigit()]
    return named[-1] if named else "record"
