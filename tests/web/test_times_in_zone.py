"""Pages show every time in the clinic's zone (issue 12): a dashboard in New York must not show UTC."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ketaclinic.api.app import create_app
from ketaclinic.services import plans as pl
from ketaclinic.services import sessions as ss
from tests.interop.flows import T0, signed_evaluation
from tests.web.conftest import sign_in


@pytest.fixture
def new_york(settings, db, clinic):
    app = create_app(settings.model_copy(update={"demo": True, "clinic_timezone": "America/New_York"}), db=db)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_the_dashboard_and_the_plan_show_the_session_in_clinic_time(new_york, db, clinic):
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id)
    physician, nurse = clinic.actors["physician"], clinic.actors["nurse"]
    draft = pl.create_plan(db, physician, pl.PlanIn(patient_id=clinic.own_patient_id, evaluation_id=evaluation.id,
                                                    protocol="outpatient_infusion"), now=T0)
    plan = pl.sign_plan(db, physician, draft.id, draft.version, now=T0)
    now = datetime.now(UTC)
    # today 23:00 in New York is 04:00 UTC the next day (EST) or 03:00 (EDT): either way not the local hour
    local_evening = now.astimezone(new_york.app.state.settings.timezone).replace(hour=23, minute=0, second=0,
                                                                                  microsecond=0)
    when = local_evening.astimezone(UTC)
    ss.schedule_session(db, nurse, ss.SessionIn(patient_id=plan.patient_id, plan_id=plan.id, scheduled_at=when),
                        now=when - timedelta(days=2))
    sign_in(new_york, "physician")
    page = new_york.get(f"/plans/{plan.id}").text
    assert local_evening.strftime("%d %b %Y 23:00") in page
    assert when.strftime("%d %b %Y %H:%M") not in page  # the UTC reading is nowhere
