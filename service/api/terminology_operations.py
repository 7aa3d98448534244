"""Terminology on Dyad's own content: $expand, $validate-code, $lookup, $translate."""

from typing import Any

from fastapi.responses import Response

from service.api import interactions
from service.api.operations import OperationCall, operation
from service.api.outcome import FhirError
from service.api.responses import fhir_json
from service.conformance.terminology.valuesets import ExpansionError

SPEC = "http://hl7.org/fhir/OperationDefinition/"


async def _canonical_of(call: OperationCall) -> str | None:
    """The url parameter, or the url of the instance the operation was called on."""
    url = call.value("url")
    if url is None and call.res_id is not None:
        async with call.ctx.db.read() as conn:
            stored = await interactions.read(call.ctx, conn, call.access, call.res_type or "", call.res_id)
        url = (stored.content or {}).get("url")
    return url if isinstance(url, str) else None


def _integer(call: OperationCall, name: str) -> int | None:
    value = call.value(name)
    if value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise FhirError(400, f"Parameter {name} must be a non-negative integer", code="invalid")


def _coding(call: OperationCall) -> tuple[str | None, str | None, str | None]:
    """system, code and display, from separate parameters or a coding / codeableConcept."""
    coding = call.value("coding")
    if coding is None and isinstance(call.value("codeableConcept"), dict):
        coding = (call.value("codeableConcept").get("coding") or [None])[0]
    if isinstance(coding, dict):
        return coding.get("system"), coding.get("code"), coding.get("display")
    return call.value("system"), call.value("code"), call.value("display")


def _parameters(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [p for p in parameters if p]}


@operation("expand", levels={"type", "instance"}, types={"ValueSet"}, definition=SPEC + "ValueSet-expand")
async def expand(call: OperationCall) -> Response:
    url = await _canonical_of(call)
    if url is None:
        raise FhirError(400, "$expand needs a url parameter or a ValueSet instance", code="required")
    try:
        expansion = call.ctx.terminology.expand(
            url, filter=call.value("filter"), count=_integer(call, "count"), offset=_integer(call, "offset") or 0
        )
    except ExpansionError as exc:
        raise FhirError(422, str(exc), code="not-supported") from None
    return fhir_json(expansion, call.request)


@operation(
    "validate-code",
    levels={"type", "instance"},
    types={"ValueSet", "CodeSystem"},
    definition=SPEC + "ValueSet-validate-code",
)
async def validate_code(call: OperationCall) -> Response:
    system, code, display = _coding(call)
    if not isinstance(code, str):
        raise FhirError(400, "$validate-code needs a code (code, coding or codeableConcept)", code="required")
    url = await _canonical_of(call)
    if call.res_type == "CodeSystem":
        system, url = system or url, None
    check = call.ctx.terminology.validate_code(url, system, code, display)
    result = _parameters(
        {"name": "result", "valueBoolean": bool(check.result)},
        {"name": "message", "valueString": check.message},
        {"name": "display", "valueString": check.display} if check.display else {},
    )
    if check.result is None:
        result["parameter"].append({"name": "checked", "valueBoolean": False})
    return fhir_json(result, call.request)


@operation("lookup", levels={"type"}, types={"CodeSystem"}, definition=SPEC + "CodeSystem-lookup")
async def lookup(call: OperationCall) -> Response:
    system, code, _ = _coding(call)
    if not isinstance(system, str) or not isinstance(code, str):
        raise FhirError(400, "$lookup needs system and code (or coding)", code="required")
    found = call.ctx.terminology.lookup(system, code)
    if found is None:
        raise FhirError(404, f"Code {code} is not known in {system}", code="not-found")
    parameters = [
        {"name": "name", "valueString": found["name"]},
        {"name": "display", "valueString": found["display"] or ""},
        {"name": "abstract", "valueBoolean": bool(found["abstract"])},
    ]
    if found.get("version"):
        parameters.append({"name": "version", "valueString": found["version"]})
    if found.get("definition"):
        parameters.append({"name": "definition", "valueString": found["definition"]})
    parameters += [_designation(d) for d in found["designation"]]
    parameters += [_property(p) for p in found["property"]]
    return fhir_json(_parameters(*parameters), call.request)


def _designation(designation: dict[str, Any]) -> dict[str, Any]:
    parts = [{"name": "value", "valueString": designation.get("value", "")}]
    if designation.get("language"):
        parts.append({"name": "language", "valueCode": designation["language"]})
    if designation.get("use"):
        parts.append({"name": "use", "valueCoding": designation["use"]})
    return {"name": "designation", "part": parts}


def _property(prop: dict[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"name": "code", "valueCode": prop.get("code", "")}]
    parts += [{"name": "value", key: value} for key, value in prop.items() if key.startswith("value")]
    return {"name": "property", "part": parts}


@operation("translate", levels={"type", "instance"}, types={"ConceptMap"}, definition=SPEC + "ConceptMap-translate")
async def translate(call: OperationCall) -> Response:
    system, code, _ = _coding(call)
    if not isinstance(system, str) or not isinstance(code, str):
        raise FhirError(400, "$translate needs system and code (or coding)", code="required")
    matches = call.ctx.terminology.translate(
        system,
        code,
        conceptmap_url=await _canonical_of(call),
        source=call.value("source"),
        target=call.value("target"),
        target_system=call.value("targetsystem"),
    )
    parameters: list[dict[str, Any]] = [
        {"name": "result", "valueBoolean": any(m["equivalence"] not in ("unmatched", "disjoint") for m in matches)},
    ]
    if not matches:
        parameters.append({"name": "message", "valueString": f"No mapping for {system}|{code}"})
    parameters += [_match(m) for m in matches]
    return fhir_json(_parameters(*parameters), call.request)


def _match(match: dict[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": match["equivalence"]}]
    if match.get("concept"):
        parts.append({"name": "concept", "valueCoding": match["concept"]})
    if match.get("source"):
        parts.append({"name": "source", "valueUri": match["source"]})
    return {"name": "match", "part": parts}
