"""One error shape for every failure: ``{"error": {"code", "message", "field"}}`` (design.md 4 and 4.5)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ketaclinic.services.errors import RateLimited, ServiceError, Unauthenticated
from ketaclinic.services.types import explain, field_path, metadata_bounds

log = logging.getLogger("ketaclinic.api")

HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_input",
    428: "if_match_required", 429: "rate_limited", 500: "internal_error",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


ERROR_SCHEMA = {
    "description": "Error",
    "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": ["string", "null"]},
        }, "required": ["code", "message", "field"]}},
        "required": ["error"],
    }}},
}


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    return error_response(exc.status, exc.code, exc.message, exc.field, headers)


def _route_bounds(request: Request, where: Any, loc: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    """The body model (for a range's both ends) or a query/path parameter's bounds, from the route."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not loc:
        return None, {}
    if where == "body":
        params = dependant.body_params
        if len(params) == 1:
            annotation = params[0].field_info.annotation
            return (annotation if isinstance(annotation, type) else None), {}
        return None, {}
    params = {"query": dependant.query_params, "path": dependant.path_params}.get(str(where), [])
    for param in params:
        if param.alias == loc[0] or param.name == loc[0]:
            return None, metadata_bounds(param.field_info.metadata)
    return None, {}


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Every 422 names the field and says what is allowed in words (services.types.explain)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(422, "invalid_input", "invalid request")
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    where = loc[0] if loc else None
    rest = loc[1:] if where in ("body", "query", "path", "header", "cookie", "form") else loc
    path = field_path(rest)
    if where == "body" and first.get("type") == "missing" and not path:
        return error_response(422, "missing_body", "a JSON body is required", None)
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return error_response(422, "unknown_field", f"unknown field {path!r}: check the spelling", path or None)
    if kind == "missing":
        return error_response(422, "missing_field", f"field {path!r} is required", path or None)
    try:
        model, bounds = _route_bounds(request, where, rest)
    except Exception:  # the words are a courtesy; never let them fail the answer
        model, bounds = None, {}
    message, field = explain(first, model=model, loc=rest, bounds=bounds)
    return error_response(422, "invalid_input", message, field)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, None, dict(exc.headers or {}))


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "something went wrong on our side; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
