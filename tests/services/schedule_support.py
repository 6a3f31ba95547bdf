"""A clinic ready to book (issue 13): two chairs and a room, the physician and nurse working weekdays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from ketaclinic.services import chairs as ch
from ketaclinic.services.sites import default_site_id
from tests.interop.flows import signed_plan

NOW = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # the services take ``now``: bookings are in its future


def at(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    """A UTC time in 2027 (4 January 2027 is a Monday)."""
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Ready:
    site_id: int
    chairs: list[int]
    room: int
    plan_id: int
    physician_id: int
    nurse_id: int


def ready_clinic(db, clinic, *, plan: bool = True) -> Ready:
    admin = clinic.actors["admin"]
    with db.reading() as uow:
        site = default_site_id(uow)
    chairs = [ch.create_chair(db, admin, ch.ChairIn(site_id=site, name=f"Chair {n}", position=n)).id for n in (1, 2)]
    room = ch.create_chair(db, admin, ch.ChairIn(site_id=site, name="Room A", kind="room", position=9)).id
    week = [ch.Stretch(weekday=d, start=time(7, 0), end=time(19, 0)) for d in range(5)]
    physician, nurse = clinic.actors["physician"].user_id, clinic.actors["nurse"].user_id
    for user in (physician, nurse):
        ch.set_hours(db, admin, user, ch.HoursIn(site_id=site, stretches=week))
    plan_id = signed_plan(db, clinic, clinic.own_patient_id).id if plan else 0
    return Ready(site_id=site, chairs=chairs, room=room, plan_id=plan_id, physician_id=physician, nurse_id=nurse)
