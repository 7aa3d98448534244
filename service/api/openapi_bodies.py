"""Request bodies as the OpenAPI document describes them.

The routes read raw bodies (FHIR JSON is parsed once, by Dyad, not by FastAPI), so FastAPI
cannot infer these; declaring them keeps /docs honest and lets API fuzzers send real bodies.
"""

from typing import Any

from service.conformance.supported import SUPPORTED_TYPES

_RESOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": sorted(SUPPORTED_TYPES)},
        "id": {"type": "string", "pattern": "^[A-Za-z0-9.-]{1,64}$"},
        "meta": {"type": "object"},
    },
    "additionalProperties": True,
}

_BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"type": "string", "enum": ["transaction", "batch"]},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": _RESOURCE_SCHEMA,
                    "request": {
                        "type": "object",
                        "required": ["method", "url"],
                        "properties": {
                            "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                            "url": {"type": "string"},
                            "ifMatch": {"type": "string"},
                            "ifNoneExist": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}

_PATCH_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string"},
            "from": {"type": "string"},
            "value": {},
        },
    },
}


def _body(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


RESOURCE_BODY = _body("application/fhir+json", _RESOURCE_SCHEMA)
BUNDLE_BODY = _body("application/fhir+json", _BUNDLE_SCHEMA)
PATCH_BODY = _body("application/json-patch+json", _PATCH_SCHEMA)
FORM_BODY = _body("application/x-www-form-urlencoded", {"type": "object", "additionalProperties": {"type": "string"}})
PARAMETERS_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/fhir+json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}
TYPE_ENUM: dict[str, Any] = {"enum": sorted(SUPPORTED_TYPES)}
ID_PATTERN: dict[str, Any] = {"pattern": "^[A-Za-z0-9.-]{1,64}$"}
