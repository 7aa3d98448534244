"""The CapabilityStatement, generated from what is really registered."""

from datetime import UTC, datetime
from typing import Any

from service import __version__
from service.api.context import FhirContext
from service.api.operations import Operation, registered
from service.conformance.supported import SUPPORTED_TYPES

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")


def capability_statement(ctx: FhirContext, base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "Dyad",
        "kind": "instance",
        "software": {"name": "Dyad", "version": __version__},
        "implementation": {"description": "Dyad perinatal relationship FHIR service", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        "patchFormat": ["application/json-patch+json"],
        "implementationGuide": [ig["url"] for ig in ctx.package.of_type("ImplementationGuide") if ig.get("url")],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource(ctx, res_type) for res_type in sorted(SUPPORTED_TYPES)],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": [_operation(op) for op in registered() if "system" in op.levels],
            }
        ],
    }


def _resource(ctx: FhirContext, res_type: str) -> dict[str, Any]:
    params = ctx.registry.params_for(res_type)
    entry: dict[str, Any] = {
        "type": res_type,
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchInclude": sorted(_includes(ctx, res_type)),
        "searchRevInclude": sorted(_revincludes(ctx, res_type)),
        "searchParam": [_search_param(p) for _, p in sorted(params.items())],
    }
    operations = [
        _operation(op)
        for op in registered()
        if op.levels & {"type", "instance"} and (op.types is None or res_type in op.types)
    ]
    if operations:
        entry["operation"] = operations
    profiles = _supported_profiles(ctx, res_type)
    if profiles:
        entry["supportedProfile"] = profiles
    return entry


def _operation(op: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {"name": op.name}
    described["definition"] = op.definition or f"https://w3id.org/dyad/fhir/OperationDefinition/{op.name}"
    return described


def _search_param(param: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"name": param.code, "type": param.type}
    if param.url:
        described["definition"] = param.url
    if param.description:
        described["documentation"] = param.description
    return described


def _includes(ctx: FhirContext, res_type: str) -> set[str]:
    return {f"{res_type}:{code}" for code, p in ctx.registry.params_for(res_type).items() if p.type == "reference"}


def _revincludes(ctx: FhirContext, res_type: str) -> set[str]:
    found = set()
    for source in SUPPORTED_TYPES:
        for code, p in ctx.registry.params_for(source).items():
            if p.type == "reference" and (not p.targets or res_type in p.targets):
                found.add(f"{source}:{code}")
    return found


def _supported_profiles(ctx: FhirContext, res_type: str) -> list[str]:
    return sorted(
        sd["url"]
        for sd in ctx.package.of_type("StructureDefinition")
        if sd.get("type") == res_type and sd.get("derivation") == "constraint" and sd.get("url")
    )
