"""Properties of the register (issue 14): any sequence of receipts, dispenses, sessions, wastes, returns,
transfers, counts, resolutions and corrections keeps every balance equal to its entries and never negative,
and ``register verify`` agrees (a hypothesis state machine on SQLite); concurrent dispenses from one lot
on PostgreSQL never oversell (the lot's row lock)."""

from __future__ import annotations

import shutil
import threading
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ketaclinic.clinical import register as core
from ketaclinic.records.db import Database
from ketaclinic.services import register as rg
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import ServiceError
from tests.conftest import build_clinic
from tests.interop.flows import T0, running, signed_plan
from tests.services.test_register import SUPPLIER_DEA

SESSIONS = 4
LOTS = ("SYN-PROP-1", "SYN-PROP-2")


@pytest.fixture(scope="module")
def template(tmp_path_factory, sqlite_template):
    """A clinic with two locations and four stopped sessions (copied for every example)."""
    from datetime import date as d

    from argon2 import PasswordHasher, profiles

    from ketaclinic.services.auth import use_password_hasher

    use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    from ketaclinic.services.patients import PatientIn

    path = tmp_path_factory.mktemp("register-props") / "template.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    clinic = build_clinic(db, PatientIn(given_name="Synthetic", family_name="Own", birth_date=d(1970, 1, 2), sex="female",
                                        weight_kg=68.0),
                          PatientIn(given_name="Synthetic", family_name="Other", birth_date=d(1980, 3, 4), sex="male",
                                    weight_kg=80.0))
    admin = clinic.actors["admin"]
    locations = [rg.add_location(db, admin, rg.LocationIn(site_id=admin.site_ids[0], name=name, kind=kind)).id
                 for name, kind in (("Safe", "safe"), ("Cabinet", "cabinet"))]
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    sessions = []
    for i in range(SESSIONS):
        visit = running(db, clinic, plan, T0 + timedelta(days=1 + i))
        visit = ss.stop_infusion(db, clinic.actors["nurse"], visit.id, visit.version,
                                 now=T0 + timedelta(days=1 + i, minutes=20 + 10 * i))
        sessions.append(visit.id)
    db.dispose()
    return path, clinic, locations, sessions


class RegisterMachine(RuleBasedStateMachine):
    """One clinic's register under any sequence of operations (refusals allowed, never a broken book)."""

    template = None  # set by the test

    @initialize()
    def start(self):
        path, self.clinic, self.locations, self.sessions = self.template
        self.counter = getattr(RegisterMachine, "_n", 0) + 1
        RegisterMachine._n = self.counter
        copy = path.with_name(f"example-{self.counter}.db")
        shutil.copyfile(path, copy)
        self.db = Database(f"sqlite:///{copy}")
        self.product = next(p for p in rg.list_products(self.db, self.clinic.actors["admin"])
                            if p.drug == "ketamine" and p.strength_mg_per_ml == 50).id
        self.lot_ids: dict[str, int] = {}
        self.nurse, self.physician = self.clinic.actors["nurse"], self.clinic.actors["physician"]

    def teardown(self):
        self.db.dispose()

    def _try(self, call):
        try:
            return call()
        except ServiceError:
            return None

    @rule(lot=st.sampled_from(LOTS), where=st.integers(0, 1), vials=st.integers(1, 3))
    def receive(self, lot, where, vials):
        made = self._try(lambda: rg.record_receipt(self.db, self.physician, rg.ReceiptIn(
            location_id=self.locations[where], product_id=self.product, lot_number=lot, expiry_date=date(2027, 12, 31),
            vials=vials, supplier="Synthetic Wholesale", supplier_dea_number=SUPPLIER_DEA, invoice="P"), now=T0))
        if made is not None:
            self.lot_ids[lot] = made.lot_id

    @rule(s=st.integers(0, SESSIONS - 1), lot=st.sampled_from(LOTS), where=st.integers(0, 1),
          amount=st.integers(1, 6000))
    def dispense(self, s, lot, where, amount):
        if lot in self.lot_ids:
            self._try(lambda: rg.dispense(self.db, self.nurse, rg.DispenseIn(
                session_id=self.sessions[s], lot_id=self.lot_ids[lot], location_id=self.locations[where],
                amount_mg=amount / 10, vials=2), now=T0 + timedelta(days=1)))

    @rule(s=st.integers(0, SESSIONS - 1), part=st.none() | st.integers(1, 3000))
    def waste(self, s, part):
        self._try(lambda: rg.waste(self.db, self.nurse, rg.WasteIn(
            session_id=self.sessions[s], amount_mg=None if part is None else part / 10), witness=self.physician))

    @rule(s=st.integers(0, SESSIONS - 1))
    def administer(self, s):
        self._try(lambda: rg.record_administration(self.db, self.nurse, rg.SessionDrugIn(session_id=self.sessions[s])))

    @rule(s=st.none() | st.integers(0, SESSIONS - 1), lot=st.sampled_from(LOTS), where=st.integers(0, 1),
          amount=st.integers(1, 3000))
    def give_back(self, s, lot, where, amount):
        if lot in self.lot_ids:
            actor = self.nurse if s is not None else self.physician
            self._try(lambda: rg.return_stock(self.db, actor, rg.ReturnIn(
                lot_id=self.lot_ids[lot], location_id=self.locations[where], amount_mg=amount / 10, reason="unused",
                session_id=None if s is None else self.sessions[s], recipient="Synthetic Reverse Distributor",
                recipient_dea_number=SUPPLIER_DEA)))

    @rule(lot=st.sampled_from(LOTS), where=st.integers(0, 1), amount=st.integers(1, 6000))
    def move(self, lot, where, amount):
        if lot in self.lot_ids:
            self._try(lambda: rg.transfer(self.db, self.nurse, rg.TransferIn(
                lot_id=self.lot_ids[lot], location_id=self.locations[where], to_location_id=self.locations[1 - where],
                amount_mg=amount / 10)))

    @rule(where=st.integers(0, 1), off=st.integers(-50, 50))
    def count(self, where, off):
        items = [i for i in rg.balances(self.db, self.nurse).items if i.location_id == self.locations[where]]
        if items:
            self._try(lambda: rg.record_count(self.db, self.nurse, rg.CountIn(location_id=self.locations[where], lines=[
                {"lot_id": i.lot_id, "counted_mg": max(0.0, i.balance_mg + off)} for i in items]),
                witness=self.clinic.actors["admin"]))

    @rule(follow=st.booleans())
    def resolve(self, follow):
        open_ = rg.open_discrepancies(self.db, self.physician)
        if open_:
            self._try(lambda: rg.resolve_discrepancy(self.db, self.physician, open_[0].count.id, rg.ResolveIn(
                reason="recounted", amount_mg=None if follow else 0.0)))

    @rule(pick=st.integers(0, 50), amount=st.integers(0, 20000))
    def correct(self, pick, amount):
        entries = [e for e in rg.list_entries(self.db, self.physician, limit=200).items
                   if e.kind in ("receipt", "dispense", "transfer", "return", "adjustment")]
        if entries:
            entry = entries[pick % len(entries)]
            actor = self.physician
            self._try(lambda: rg.correct_entry(self.db, actor, entry.id, rg.CorrectionIn(amount_mg=amount / 10,
                                                                                          reason="typo")))

    @invariant()
    def balances_follow_the_entries(self):
        if not hasattr(self, "db"):
            return
        admin = self.clinic.actors["admin"]
        verdict = rg.verify_register(self.db, admin)
        assert verdict.ok, verdict.first_break
        entries = []
        cursor = None
        while True:
            page = rg.list_entries(self.db, admin, limit=200, cursor=cursor)
            entries += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        ledger = core.ledger_of(core.Line(id=e.id, kind=e.kind, lot_id=e.lot_id, amount_mg=e.amount_mg,
                                          location_id=e.location_id, to_location_id=e.to_location_id,
                                          session_id=e.session_id, corrects_id=e.corrects_id, resolves_id=e.resolves_id,
                                          recorded_by=e.recorded_by, witness_id=e.witness_id, details=e.details)
                                for e in entries)
        replayed = {(lot, loc): mg for lot, loc, mg in ledger.location_items() if mg != 0}
        served = {(i.lot_id, i.location_id): i.balance_mg for i in rg.balances(self.db, admin).items}
        assert served == replayed
        assert all(v >= 0 for v in ledger.balances.values())


def test_any_sequence_keeps_the_register_balanced(template):
    RegisterMachine.template = template
    run = RegisterMachine.TestCase
    run.settings = settings(max_examples=25, stateful_step_count=14, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    run().runTest()


@pytest.mark.parametrize("engine", ["postgresql"])
def test_concurrent_dispenses_from_one_lot_never_oversell(db, clinic, engine):
    from tests.services.test_register import stock

    safe, _, receipt = stock(db, clinic, vials=2)  # 1000 mg
    plan = signed_plan(db, clinic, clinic.own_patient_id)
    visits = [running(db, clinic, plan, T0 + timedelta(days=1 + i)).id for i in range(8)]
    barrier = threading.Barrier(len(visits))
    outcomes: list[str] = []

    def draw(session_id: int) -> None:
        barrier.wait()
        try:
            rg.dispense(db, clinic.actors["nurse"], rg.DispenseIn(session_id=session_id, lot_id=receipt.lot_id,
                                                                  location_id=safe.id, amount_mg=300, vials=1),
                        now=T0 + timedelta(days=1))
            outcomes.append("ok")
        except ServiceError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=draw, args=(v,)) for v in visits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 3 and outcomes.count("insufficient_stock") == 5, outcomes
    assert [i.balance_mg for i in rg.balances(db, clinic.actors["nurse"]).items] == [100.0]
    assert rg.verify_register(db, clinic.actors["admin"]).ok
