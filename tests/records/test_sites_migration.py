"""Migration 0011 (issue 17): existing patients, sessions (sealed ones too) and staff go to one default site."""

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from ketaclinic.records.db import Database
from ketaclinic.records.migrate import alembic_config, upgrade
from ketaclinic.records.patients import Patient
from ketaclinic.records.sessions import InfusionSession
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.records.triggers import check_guards
from ketaclinic.records.users import User
from ketaclinic.services import sessions as ss
from ketaclinic.services import sites as st
from tests.interop.flows import T0, completed, signed_plan


def test_existing_rows_move_into_the_default_site(db, clinic):
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    done = completed(db, clinic, plan, T0 + timedelta(days=7))  # discharged: sealed
    planned = ss.schedule_session(db, clinic.actors["coordinator"],
                                  ss.SessionIn(patient_id=clinic.own_patient_id, scheduled_at=T0 + timedelta(days=14)))
    st.create_site(db, clinic.actors["admin"], st.SiteIn(name="North", code="NORTH"))
    url = db.url
    db.dispose()
    command.downgrade(alembic_config(url), "0010")
    upgrade(url)

    again = Database(url)
    try:
        with again.reading() as session:
            sites = list(session.execute(select(Site)).scalars())
            assert [(s.name, s.code, s.timezone, s.active) for s in sites] == [("Main site", "MAIN", None, True)]
            main = sites[0].id
            assert set(session.execute(select(Patient.site_id)).scalars()) == {main}
            sessions = dict(session.execute(select(InfusionSession.id, InfusionSession.site_id)).all())
            assert sessions == {done.id: main, planned.id: main}
            members = {(m.user_id, m.site_id, m.role) for m in session.execute(select(StaffSite)).scalars()}
            staff = session.execute(select(User.id, User.role).where(User.role != "patient")).all()
            assert members == {(user_id, main, role) for user_id, role in staff} and len(members) == 4
        with again.engine.begin() as connection:
            assert check_guards(connection) == []  # the sealed-session triggers came back
            if again.dialect == "sqlite":
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        for table in ("patients", "sessions"):  # the site is required now
            with pytest.raises(IntegrityError), again.engine.begin() as connection:
                connection.execute(text(f"UPDATE {table} SET site_id = NULL WHERE state = 'scheduled'"
                                        if table == "sessions" else f"UPDATE {table} SET site_id = NULL"))
        with pytest.raises(IntegrityError), again.engine.begin() as connection:  # and must name a real site
            connection.execute(text("UPDATE patients SET site_id = 999"))
        with pytest.raises(IntegrityError), again.engine.begin() as connection:  # a sealed session stays sealed
            connection.execute(text("UPDATE sessions SET site_id = site_id WHERE state = 'discharged'"))
    finally:
        again.dispose()
