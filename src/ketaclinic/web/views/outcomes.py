"""Outcomes: responders at 30 % and 50 %, durability (Kaplan-Meier), by condition, beside published results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ketaclinic.charts import kaplan_meier_chart, to_svg
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.services import outcomes as outcome_service
from ketaclinic.services.context import Actor
from ketaclinic.web.deps import check_csrf, db_of, need, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
NAMES = {(c.id.value if hasattr(c.id, "value") else c.id): c.name for c in CONDITIONS.values()}


def km_rows(km: dict[str, Any] | None, group: str) -> list[dict[str, Any]]:
    if not km:
        return []
    return [{"day": t, "survival": s, "low": lo, "high": hi, "group": group}
            for t, s, lo, hi in zip(km["times_days"], km["survival"], km["ci_lower"], km["ci_upper"], strict=True)]


@router.get("/outcomes")
def outcomes(request: Request, actor: Annotated[Actor, Depends(need(*outcome_service.COHORT_ROLES))],
             condition: str | None = None) -> Response:
    data = outcome_service.cohort_outcomes(db_of(request), actor, condition=condition or None)
    return render(request, "outcomes/index.html", {"data": data, "names": NAMES, "condition": condition or "",
                                                   "conditions": sorted(NAMES.items(), key=lambda kv: kv[1])})


@router.get("/outcomes/km.svg")
def km_svg(request: Request, actor: Annotated[Actor, Depends(need(*outcome_service.COHORT_ROLES))],
           condition: str | None = None) -> Response:
    data = outcome_service.cohort_outcomes(db_of(request), actor, condition=condition or None)
    rows = km_rows(data["durability"], NAMES.get(condition, "all conditions") if condition else "all conditions")
    if not rows:
        return Response(status_code=204)
    return Response(to_svg(kaplan_meier_chart(rows)), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=60"})
