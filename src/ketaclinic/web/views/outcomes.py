"""Outcomes: responders at 30 % and 50 %, durability (Kaplan-Meier), by condition, beside published results.

An optional date range keeps the courses that ended in it; the same dates make the printable
outcome report (``/outcomes/report.pdf``, :mod:`ketaclinic.web.views.report_summaries`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.charts import kaplan_meier_chart, to_svg
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.services import outcomes as outcome_service
from ketaclinic.services.context import Actor
from ketaclinic.services.documents import parse_day
from ketaclinic.services.errors import ValidationFailed
from ketaclinic.web.deps import check_csrf, db_of, need, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
NAMES = {(c.id.value if hasattr(c.id, "value") else c.id): c.name for c in CONDITIONS.values()}


def km_rows(km: dict[str, Any] | None, group: str) -> list[dict[str, Any]]:
    if not km:
        return []
    return [{"day": t, "survival": s, "low": lo, "high": hi, "group": group}
            for t, s, lo, hi in zip(km["times_days"], km["survival"], km["ci_lower"], km["ci_upper"], strict=True)]


def _range(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """The page's optional date range (courses that ended in it); empty means every course."""
    first, last = parse_day(start, "start"), parse_day(end, "end")
    outcome_service.check_range(first, last)
    return first, last


@router.get("/outcomes")
def outcomes(request: Request, actor: Annotated[Actor, Depends(need(*outcome_service.COHORT_ROLES))],
             condition: str | None = None, start: str | None = None, end: str | None = None) -> Response:
    errors: dict[str, str] = {}
    try:
        first, last = _range(start, end)
    except ValidationFailed as exc:
        errors[exc.field or "start"] = exc.message
        first = last = None
    data = outcome_service.cohort_outcomes(db_of(request), actor, condition=condition or None, start=first, end=last)
    query = urlencode({k: v for k, v in (("condition", condition), ("start", first), ("end", last)) if v})
    return render(request, "outcomes/index.html", {
        "data": data, "names": NAMES, "condition": condition or "", "errors": errors, "query": query,
        "start": first.isoformat() if first else (start or ""), "end": last.isoformat() if last else (end or ""),
        "ranged": first is not None or last is not None,
        "conditions": sorted(NAMES.items(), key=lambda kv: kv[1])}, status=422 if errors else 200)


@router.get("/outcomes/km.svg")
def km_svg(request: Request, actor: Annotated[Actor, Depends(need(*outcome_service.COHORT_ROLES))],
           condition: str | None = None, start: str | None = None, end: str | None = None) -> Response:
    first, last = _range(start, end)
    data = outcome_service.cohort_outcomes(db_of(request), actor, condition=condition or None, start=first, end=last)
    rows = km_rows(data["durability"], NAMES.get(condition, "all conditions") if condition else "all conditions")
    if not rows:
        return Response(status_code=204)
    return Response(to_svg(kaplan_meier_chart(rows)), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=60"})
