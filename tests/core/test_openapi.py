"""The OpenAPI document names every error an operation can answer, with the body it really has
(the fuzz suite in tests/fuzz checks the responses against it)."""

from __future__ import annotations

WRITES = {"post", "put", "patch"}


def operations(app):
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", method, operation


def test_every_422_is_the_validation_error_body_the_handler_sends(app):
    document = app.openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ValidationErrorBody"]["required"]) == {"error", "detail"}
    assert "errors" in schemas["ValidationErrorBody"]["properties"]
    for label, _, operation in operations(app):
        body = operation["responses"].get("422", {}).get("content", {}).get("application/json")
        if body is not None:
            assert body["schema"]["$ref"] in (
                "#/components/schemas/ValidationErrorBody",
                "#/components/schemas/ErrorBody",
            ), label


def test_a_json_body_documents_400_and_every_write_documents_413(app):
    for label, method, operation in operations(app):
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert "400" in operation["responses"], label
        if method in WRITES:
            assert "413" in operation["responses"], label
