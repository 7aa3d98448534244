"""$validate: what an integration engineer asks before go-live, answered as an OperationOutcome."""

from typing import Any

from fastapi.responses import Response

from service.api import interactions
from service.api.operations import OperationCall, operation
from service.api.outcome import FhirError, operation_outcome
from service.api.responses import fhir_json
from service.conformance.issues import Issue
from service.conformance.r4 import is_resource_type

VALIDATE_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


# Checking a resource reads nothing stored, so any authenticated caller may; the instance form
# reads the stored resource through the same scope and visibility checks as a read.
@operation("validate", levels={"type", "instance"}, definition=VALIDATE_DEFINITION, idempotent=False, permission=None)
async def validate(call: OperationCall) -> Response:
    resource, profiles, mode = await _inputs(call)
    if mode == "delete":
        issues: list[Issue] = []
    else:
        issues = _check(call, resource, profiles)
    if not any(i.severity in ("error", "fatal", "warning") for i in issues):
        issues.append(Issue("information", "informational", "No issues detected"))
    return fhir_json(operation_outcome(issues), call.request)


async def _inputs(call: OperationCall) -> tuple[dict[str, Any], list[str] | None, str | None]:
    body = call.body
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        resource = call.value("resource")
        profile = call.value("profile")
        mode = call.value("mode")
    else:
        resource, profile, mode = body, call.request.query_params.get("profile"), call.request.query_params.get("mode")
    if resource is None and call.res_id is not None:
        async with call.ctx.db.read() as conn:
            resource = (await interactions.read(call.ctx, conn, call.access, call.res_type or "", call.res_id)).content
    if not isinstance(resource, dict):
        raise FhirError(400, "$validate needs a resource, in the body or as the Parameters 'resource'", code="required")
    return resource, [profile] if isinstance(profile, str) else None, mode if isinstance(mode, str) else None


def _check(call: OperationCall, resource: dict[str, Any], profiles: list[str] | None) -> list[Issue]:
    res_type = resource.get("resourceType")
    if call.res_type and res_type != call.res_type:
        return [
            Issue(
                "error",
                "invalid",
                f"resourceType '{res_type}' does not match the URL's type '{call.res_type}'",
                "resourceType",
            )
        ]
    if not isinstance(res_type, str) or not is_resource_type(res_type):
        return [
            Issue("error", "structure", f"resourceType {res_type!r} is not a FHIR R4 resource type", "resourceType")
        ]
    admission = call.ctx.admission
    if profiles is None:
        return admission.assess(resource).issues
    return admission.validator.validate(resource, profiles)
