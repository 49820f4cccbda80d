"""One error hierarchy rendered as ``{"error": <name>, "detail": <message>}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class ErrorBody(BaseModel):
    error: str
    detail: str


class FieldError(BaseModel):
    field: str = Field(description="where: body.<name>, query.<name>, path.<name>, header.<name>")
    message: str
    type: str


class ValidationErrorBody(ErrorBody):
    """A 422: ``detail`` sums up, ``errors`` names each field that is wrong."""

    errors: list[FieldError] = []


class AppError(Exception):
    status_code: ClassVar[int] = 400

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        # Further top-level fields of the error body (e.g. the blockers of a refused step).
        self.extra: dict[str, Any] = {}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, detail: str = "authentication required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class WrongPassword(Unauthorized):
    """A signature's re-entered password did not match (the session itself is still valid)."""

    def __init__(
        self, detail: str = "password is wrong; re-enter your own password to sign"
    ) -> None:
        super().__init__(detail)


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class BlockerBody(BaseModel):
    code: str
    message: str
    resolution: str
    subject: str | None = None
    available_at: str | None = None
    final: bool = False


class BlockedBody(ErrorBody):
    blockers: list[BlockerBody]


class Blocked(Conflict):
    """A legal step whose conditions are not met: 409 listing each blocker and what lifts it.

    Rendered as ``{"error": "Blocked", "detail": ..., "blockers": [{code, message, resolution,
    subject, available_at, final}, ...]}``.
    """

    def __init__(self, detail: str, blockers: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(detail)
        self.blockers = [dict(b) for b in blockers]
        self.extra = {"blockers": self.blockers}


class PayloadTooLarge(AppError):
    status_code = 413


class Unprocessable(AppError):
    status_code = 422


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class ServiceUnavailable(AppError):
    status_code = 503

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


def error_response(
    status_code: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail}, status_code=status_code, headers=dict(headers or {})
    )


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the errors a route may return."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = out.setdefault(err.status_code, {"model": ErrorBody, "description": ""})
        entry["description"] = " or ".join(filter(None, [entry["description"], err.__name__]))
    return out


def _field_path(loc: Sequence[Any]) -> str:
    # An unknown key is client input too: name it, but never echo a megabyte of it.
    return ".".join(p if len(p := str(part)) <= 64 else p[:61] + "..." for part in loc)


# What the database being gone looks like to us; anything else is a bug and stays a 500.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def add_exception_handlers(app: FastAPI, *, retry_after_s: int) -> None:
    async def on_app_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        body = {"error": type(exc).__name__, "detail": exc.detail, **exc.extra}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # The offending input is never echoed: it may be 1 MB long or carry PHI.
        errors = [
            {
                "field": _field_path(err.get("loc", ())),
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return JSONResponse(
            {"error": "ValidationError", "detail": detail, "errors": errors}, status_code=422
        )

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        names = {
            400: "BadRequest",
            404: "NotFound",
            405: "MethodNotAllowed",
            413: "PayloadTooLarge",
        }
        return error_response(
            exc.status_code, names.get(exc.status_code, "HTTPError"), str(exc.detail), exc.headers
        )

    async def on_value_refused(request: Request, exc: Exception) -> JSONResponse:
        # Input validation should have caught it; the database is the last line, not a 500.
        log.warning("database_refused_value", path=request.url.path, error=type(exc).__name__)
        return error_response(
            422,
            "ValidationError",
            "a value was refused by the database (out of range or not storable text)",
        )

    async def on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
        return error_response(
            503,
            "ServiceUnavailable",
            "the database is unreachable; nothing was stored, retry later",
            {"Retry-After": str(retry_after_s)},
        )

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(sa_exc.DataError, on_value_refused)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, on_database_unavailable)
