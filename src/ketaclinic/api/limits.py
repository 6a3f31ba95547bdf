"""Request limits before anything parses a request (one ASGI middleware for the API and the web pages).

- **Size**: a body larger than its path's limit is refused with 413 before it is read any further:
  64 kB for the public inquiry and the sign-in forms, 5 MB (and a little for the multipart
  wrapping) for referral imports, 1 MB for everything else. A ``Content-Length`` over the limit is
  refused without reading; a body sent without one (chunked) is counted as it arrives.
- **Text a database cannot store**: a NUL character or an unpaired surrogate in a query parameter,
  a form field or a JSON string is refused with 422 naming the field
  (:func:`ketaclinic.services.types.text_problem`; the services' ``Text`` type says the same for
  callers that do not come through HTTP). JSON nested deeper than :data:`MAX_JSON_DEPTH` is 422 too.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse

from ketaclinic.api.errors import error_body
from ketaclinic.services.types import MAX_JSON_DEPTH, bad_json_text, text_problem

KB, MB = 1024, 1024 * 1024
SMALL_BODY = 64 * KB
IMPORT_BODY = 5 * MB
DEFAULT_BODY = 1 * MB

# (method, path pattern, limit): the first match wins
LIMITS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("POST", re.compile(r"^/api/v1/inquiries/?$"), SMALL_BODY),
    ("POST", re.compile(r"^/api/v1/auth/token/?$"), SMALL_BODY),
    ("POST", re.compile(r"^/request-consultation/?$"), SMALL_BODY),
    ("POST", re.compile(r"^/login/?$"), SMALL_BODY),
    ("POST", re.compile(r"^/api/v1/referrals/?$"), IMPORT_BODY),
    ("POST", re.compile(r"^/api/v1/patients/[^/]+/referrals/?$"), IMPORT_BODY),
    ("POST", re.compile(r"^(/patients/[^/]+)?/referrals/new/?$"), IMPORT_BODY + 64 * KB),  # multipart upload
)


def body_limit(method: str, path: str) -> int:
    for wanted, pattern, limit in LIMITS:
        if method == wanted and pattern.match(path):
            return limit
    return DEFAULT_BODY


def _words(limit: int) -> str:
    return f"{limit // MB} MB" if limit % MB == 0 else f"{limit // KB} kB"


def _bad_pairs(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    for name, value in pairs:
        for text in (name, value):
            problem = text_problem(text)
            if problem:
                return (name if text_problem(name) is None else "", problem)
    return None


def _refusal(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


class RequestLimitsMiddleware:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            bad = _bad_pairs(parse_qsl(query, keep_blank_values=True, errors="surrogatepass"))
            if bad:
                await _refusal(422, "invalid_text", f"{bad[0] or 'a query parameter'}: {bad[1]}", bad[0] or None)(
                    scope, receive, send)
                return
        limit = body_limit(scope.get("method", "GET"), scope.get("path", ""))
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        too_large = _refusal(413, "too_large", f"the request body is larger than {_words(limit)}, the limit here", None)
        if declared is not None:
            try:
                if int(declared) > limit:
                    await too_large(scope, receive, send)
                    return
            except ValueError:
                await _refusal(400, "bad_request", "Content-Length is not a number", None)(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        bad = _inspect(headers.get(b"content-type", b"").decode("latin-1").lower(), body)
        if bad:
            field, problem = bad
            if problem.startswith("nested"):
                refusal = _refusal(422, "invalid_json", f"the body is {problem}", None)
            else:
                refusal = _refusal(422, "invalid_text", f"{field or 'a field'}: {problem}", field or None)
            await refusal(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _inspect(content_type: str, body: bytes) -> tuple[str, str] | None:
    if not body:
        return None
    if "json" in content_type:
        try:
            document = json.loads(body)
        except RecursionError:
            return "", f"nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays and objects"
        except (ValueError, UnicodeDecodeError):
            return None  # not JSON: the route's own parser answers 422
        return bad_json_text(document)
    if "application/x-www-form-urlencoded" in content_type:
        return _bad_pairs(parse_qsl(body.decode("latin-1"), keep_blank_values=True, errors="surrogatepass"))
    return None
