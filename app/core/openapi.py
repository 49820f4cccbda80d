"""The OpenAPI document tells what the error handlers of ``core/errors.py`` and the request
middleware really send, where FastAPI documents its own defaults or nothing."""

from __future__ import annotations

import json
from typing import Any

from app.core.errors import ErrorBody, ValidationErrorBody

REF = "#/components/schemas/{model}"
_FASTAPI_422 = REF.format(model="HTTPValidationError")
_FASTAPI_422_PARTS = ("HTTPValidationError", "ValidationError")
_WRITES = frozenset({"post", "put", "patch"})


def _component(schemas: dict[str, Any], model: type[ErrorBody]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `document` in place so that every error an operation can answer is documented:

    * 422 is our ``ValidationErrorBody`` (FastAPI documents its own ``{"detail": [...]}``);
    * an operation that reads a JSON body answers 400 to a body that cannot be read at all
      (not UTF-8; FastAPI's own check);
    * every write answers 413 to a body over ``APP_MAX_BODY_BYTES`` (the request middleware).
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    validation = _component(schemas, ValidationErrorBody)
    error = {"application/json": {"schema": _component(schemas, ErrorBody)}}
    unreadable = {"description": "BadRequest: the body could not be read", "content": error}
    too_large = {"description": "PayloadTooLarge: the body is over the limit", "content": error}
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == _FASTAPI_422:
                content["schema"] = validation
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses.setdefault("400", unreadable)
            if method in _WRITES:
                responses.setdefault("413", too_large)
    if _FASTAPI_422 not in json.dumps(document):
        for name in _FASTAPI_422_PARTS:
            schemas.pop(name, None)
    return document
