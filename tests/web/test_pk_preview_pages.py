"""The pages that draw the PK preview (issue 18: one service function for all of them)."""

from __future__ import annotations

from datetime import timedelta

from tests.interop.flows import T0, running, signed_plan


def test_the_plan_page_chart_draws_the_population_band(signed_in, db, clinic) -> None:
    plan = signed_plan(db, clinic, clinic.own_patient_id, weight_kg=70.0)
    chart = signed_in("nurse").get(f"/plans/{plan.id}/preview.svg")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert "500 simulated patients" in chart.text


def test_the_session_chart_draws_the_predicted_curve_before_any_vitals(signed_in, db, clinic) -> None:
    """With no vital signs yet, the chart is the predicted curve alone: 204 if the preview failed."""
    plan = signed_plan(db, clinic, clinic.own_patient_id, weight_kg=70.0)
    visit = running(db, clinic, plan, T0 + timedelta(days=1))
    chart = signed_in("nurse").get(f"/sessions/{visit.id}/chart.svg")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
