"""Risk checks due on the chart (recorded from it), boosters due and overdue risk checks on the dashboards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.interop.flows import completed, signed_plan
from tests.web.conftest import csrf_of


def test_the_chart_and_the_dashboard_show_what_is_due(signed_in, clinic, db):
    pid = clinic.own_patient_id
    completed(db, clinic, signed_plan(db, clinic, pid), datetime.now(UTC) - timedelta(days=3))
    client = signed_in("nurse")
    dashboard = client.get("/dashboard").text
    assert "Boosters due" in dashboard and "Overdue risk checks" in dashboard
    assert f'href="/patients/{pid}#h-risk">Synthetic Own</a>' in dashboard and "Misuse check" in dashboard
    chart = client.get(f"/patients/{pid}")
    assert "Risk checks due" in chart.text and "Brief cognitive screen" in chart.text and "[noppers2011]" in chart.text
    saved = client.post(f"/patients/{pid}/risk-checks", data={"csrf_token": csrf_of(chart.text), "code": "misuse_check",
                                                            "result": "normal", "note": "PDMP checked"})
    assert saved.status_code == 200 and "Misuse check recorded" in saved.text
    assert "misuse check" in saved.text.split("Recorded:")[1]
    after = client.get("/dashboard").text
    row = after.split(f'href="/patients/{pid}#h-risk">')[1].split("</li>")[0]
    assert "Brief cognitive screen" in row and "Misuse check" not in row
    assert signed_in("coordinator").post(f"/patients/{pid}/risk-checks", data={"code": "misuse_check"}).status_code == 403
