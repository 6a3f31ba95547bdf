"""The cohort is read in a fixed number of queries, however many patients the clinic has (no N+1),
and gives each patient the same course as the one-patient path."""

from contextlib import contextmanager
from datetime import date, timedelta

from sqlalchemy import event

from ketaclinic.services import outcomes as oc
from ketaclinic.services.patients import PatientIn, create_patient
from tests.interop.flows import T0, completed, signed_plan
from tests.services.test_outcomes import _diary

AT = T0 + timedelta(days=7)


@contextmanager
def counted(db):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_the_number_of_queries_does_not_grow_with_the_patients(db, clinic):
    physician = clinic.actors["physician"]
    completed(db, clinic, signed_plan(db, clinic, clinic.own_patient_id), AT)
    _diary(db, clinic.actors["nurse"], clinic.own_patient_id, [3] * 10, AT + timedelta(days=1))
    today = (AT + timedelta(days=12)).date()
    with counted(db) as few:
        small = oc.cohort_outcomes(db, physician, today=today)
    for i in range(6):
        create_patient(db, physician, PatientIn(given_name="Synthetic", family_name=f"Extra{i}", birth_date=date(1970, 1, 1),
                                                sex="female", weight_kg=70))
    completed(db, clinic, signed_plan(db, clinic, clinic.other_patient_id), AT)
    with counted(db) as many:
        large = oc.cohort_outcomes(db, physician, today=today)
    assert len(many) == len(few) <= 10
    assert large["patients_with_a_course"] == 2 and small["patients_with_a_course"] == 1
    with db.reading() as session:
        one = oc.patient_course(session, clinic.own_patient_id, today)
    assert one.followup_nrs == 3.0 and one.baseline_nrs == 8.0
