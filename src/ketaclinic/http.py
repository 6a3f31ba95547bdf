"""Small HTTP helpers shared by the API routers and the web pages: If-Match, ETag, paging parameters, PDFs."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header, Path, Query, Response

from ketaclinic.services.common import MAX_LIMIT
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.services.types import ID_MAX as MAX_ID

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Record id")]

_VERSION = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def if_match(if_match: Annotated[str | None, Header(alias="If-Match", description="The version you last read (from `version` or the ETag)")] = None) -> int | None:
    """The expected version from ``If-Match`` (``3``, ``"3"`` or ``W/"3"``); None when absent (→ 428)."""
    if if_match is None or not if_match.strip():
        return None
    match = _VERSION.match(if_match)
    if not match:
        raise ValidationFailed("If-Match must be the record's version number", field="If-Match")
    return int(match.group(1))


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


Limit = Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Page size (default 50)")]
Cursor = Annotated[str | None, Query(max_length=200, description="Opaque cursor from `next_cursor`")]


def pdf_response(data: bytes, filename: str, *, download: bool = False) -> Response:
    """A PDF for the browser or an API client: never cached (it holds a patient's chart)."""
    disposition = "attachment" if download else "inline"
    return Response(content=data, media_type="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{filename}"', "Cache-Control": "no-store"})
