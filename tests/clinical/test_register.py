"""The register's pure rules (issue 14): DEA check digit, balances from entries, corrections, never negative,
verify naming the first break, and what a session gave derived from its record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.clinical import register as core
from ketaclinic.clinical.record import EventRow

L = core.Line
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_dea_number_check_digit():
    assert core.dea_number_problem("AP5836727") is None  # a worked example: 5+3+7 + 2×(8+6+2) = 47
    assert "check digit" in core.dea_number_problem("AP5836728")
    assert core.dea_number_problem("A5836727") is not None and core.dea_number_problem("AP58367X7") is not None
    assert core.dea_number_problem("IP5836727") is not None  # no registrant type starts with I
    assert core.dea_number_problem(core.with_check_digit("BJ", "123456")) is None


def book() -> list[core.Line]:
    return [L(id=1, kind="receipt", lot_id=1, location_id=10, amount_mg=1000),
            L(id=2, kind="dispense", lot_id=1, location_id=10, session_id=5, amount_mg=300),
            L(id=3, kind="administer", lot_id=1, session_id=5, amount_mg=212.4),
            L(id=4, kind="waste", lot_id=1, session_id=5, amount_mg=87.6, recorded_by=7, witness_id=8),
            L(id=5, kind="transfer", lot_id=1, location_id=10, to_location_id=11, amount_mg=200),
            L(id=6, kind="loss", lot_id=1, location_id=11, amount_mg=50),
            L(id=7, kind="return", lot_id=1, location_id=10, amount_mg=100)]  # to the supplier


def test_balances_follow_the_entries_and_the_formula():
    ledger = core.ledger_of(book())
    assert ledger.location_mg(1, 10) == 400.0 and ledger.location_mg(1, 11) == 150.0
    assert ledger.drawn_mg(5, 1) == 0.0
    assert ledger.lot_total_mg(1) == 550.0 == core.formula_total_mg(book(), 1)  # 1000 − 212.4 − 87.6 − 100 − 50
    assert core.verify(book()) is None


def test_no_balance_goes_below_zero():
    ledger = core.ledger_of(book()[:2])
    with pytest.raises(core.RegisterError) as over:
        ledger.apply(L(id=3, kind="dispense", lot_id=1, location_id=10, session_id=6, amount_mg=700.1))
    assert over.value.code == "insufficient_stock"
    with pytest.raises(core.RegisterError):  # more wasted than drawn for the session
        ledger.apply(L(id=3, kind="waste", lot_id=1, session_id=5, amount_mg=300.1, recorded_by=1, witness_id=2))


def test_waste_and_count_need_a_second_person():
    ledger = core.ledger_of(book()[:2])
    for witness in (None, 7):
        with pytest.raises(core.RegisterError) as refused:
            ledger.apply(L(id=3, kind="waste", lot_id=1, session_id=5, amount_mg=10, recorded_by=7, witness_id=witness))
        assert refused.value.code == "witness_required"
    unwitnessed = [*book()[:3], L(id=4, kind="waste", lot_id=1, session_id=5, amount_mg=87.6, recorded_by=7)]
    found = core.verify(unwitnessed)
    assert found is not None and found.entry_id == 4 and found.code == "witness_required"


def test_a_correction_counts_instead_of_the_original():
    lines = [*book()[:2], L(id=3, kind="receipt", lot_id=1, location_id=10, amount_mg=500, corrects_id=1)]
    ledger = core.ledger_of(lines)
    assert ledger.location_mg(1, 10) == 200.0 and ledger.lot_total_mg(1) == 500.0
    assert [x.id for x in ledger.effective()] == [2, 3]
    with pytest.raises(core.RegisterError) as twice:
        ledger.apply(L(id=4, kind="receipt", lot_id=1, location_id=10, amount_mg=600, corrects_id=1))
    assert twice.value.code == "already_corrected"
    with pytest.raises(core.RegisterError) as kind:
        ledger.apply(L(id=4, kind="loss", lot_id=1, location_id=10, amount_mg=1, corrects_id=2))
    assert kind.value.code == "correction_kind"
    with pytest.raises(core.RegisterError) as below:  # a correction that would leave the safe negative
        ledger.apply(L(id=4, kind="receipt", lot_id=1, location_id=10, amount_mg=100, corrects_id=3))
    assert below.value.code == "insufficient_stock"


def test_verify_names_the_first_stored_balance_that_disagrees():
    lines = [L(id=1, kind="receipt", lot_id=1, location_id=10, amount_mg=1000, balance_after_mg=1000,
               location_balance_after_mg=1000),
             L(id=2, kind="dispense", lot_id=1, location_id=10, session_id=5, amount_mg=300, balance_after_mg=1000,
               location_balance_after_mg=750)]
    found = core.verify(lines)
    assert found is not None and found.entry_id == 2 and found.code == "balance_mismatch" and "700" in found.message
    count = L(id=2, kind="count", lot_id=1, location_id=10, amount_mg=990, recorded_by=1, witness_id=2,
              details={"expected_mg": 900, "counted_mg": 990, "discrepancy_mg": 90})
    assert core.verify([lines[0], count]).code == "count_expected_mismatch"


def test_a_discrepancy_is_resolved_once():
    count = L(id=2, kind="count", lot_id=1, location_id=10, amount_mg=990, recorded_by=1, witness_id=2,
              details={"expected_mg": 1000, "counted_mg": 990, "discrepancy_mg": -10})
    ledger = core.ledger_of([book()[0], count])
    assert [x.id for x in ledger.open_discrepancies()] == [2]
    ledger.apply(L(id=3, kind="adjustment", lot_id=1, location_id=10, amount_mg=-10, resolves_id=2))
    assert ledger.open_discrepancies() == [] and ledger.location_mg(1, 10) == 990.0
    with pytest.raises(core.RegisterError) as again:
        ledger.apply(L(id=4, kind="adjustment", lot_id=1, location_id=10, amount_mg=-1, resolves_id=2))
    assert again.value.code == "already_resolved"



def test_the_bounded_replay_keeps_balances_only_and_finds_what_verify_finds():
    """register verify streams the book through BookCheck over a BoundedLedger: no entry is kept, a session's
    drawn balance back at zero is dropped (it reads the same), and the earlier entries a correction or a
    resolution names come from what the caller read for the chunk."""
    count = L(id=8, kind="count", lot_id=1, location_id=10, amount_mg=390, recorded_by=1, witness_id=2,
              details={"expected_mg": 400, "counted_mg": 390, "discrepancy_mg": -10})
    lines = [*book(), count, L(id=9, kind="adjustment", lot_id=1, location_id=10, amount_mg=-10, resolves_id=8),
             L(id=10, kind="transfer", lot_id=1, location_id=10, to_location_id=11, amount_mg=100, corrects_id=5)]
    ledger = core.BoundedLedger()
    ledger.known = core.Earlier(lines={8: count, 5: lines[4]}, first_correction={5: 10}, first_resolution={8: 9})
    bounded = core.BookCheck(ledger)
    for line in lines:
        bounded.add(line)
    assert bounded.result() is None is core.verify(lines) and (bounded.entries, bounded.lots) == (10, 1)
    assert ledger.lines == {} and not any(key[0] == "drawn" for key in ledger.balances)  # session 5 is back at 0
    assert ledger.location_mg(1, 10) == 490.0 == core.ledger_of(lines).location_mg(1, 10)  # 400 − 10 + 100
    again = L(id=11, kind="adjustment", lot_id=1, location_id=10, amount_mg=-1, resolves_id=8)
    ledger.known = core.Earlier(lines={8: count}, first_resolution={8: 9})
    bounded.add(again)
    assert bounded.result().code == "already_resolved" == core.verify([*lines, again]).code
    with pytest.raises(ValueError, match="id order"):  # a replay out of order would name the wrong break
        bounded.add(L(id=3, kind="receipt", lot_id=1, location_id=10, amount_mg=1))


def _event(i: int, kind: str, payload: dict, minute: float = 0.0, amends: int | None = None) -> EventRow:
    return EventRow(id=i, kind=kind, payload=payload, minute=minute, amends_event_id=amends)


def test_what_a_session_gave_is_derived_from_its_record():
    program = {"program": [{"kind": "infusion", "rate_mg_per_h": 30.0, "duration_min": 60}]}
    # the pump ran 30 mg/h for 20 min, then 15 mg/h until the stop at 40 min; plus a 5 mg push, corrected to 4 mg
    events = [_event(1, "rate_change", {"rate_mg_per_h": 15.0}, 20),
              _event(2, "medication", {"drug": "Ketamine", "dose": 5, "unit": "mg", "route": "iv"}, 25),
              _event(3, "amendment", {"correction": {"dose": 4}}, 26, amends=2),
              _event(4, "medication", {"drug": "midazolam", "dose": 1000, "unit": "mcg", "route": "iv"}, 30),
              _event(5, "medication", {"drug": "midazolam", "dose": 1, "unit": "mg", "route": "iv"}, 35)]
    stopped = T0 + timedelta(minutes=40)
    assert core.drug_given_mg("ketamine", program, events, T0, stopped) == 19.0  # 10 + 5 + 4
    assert core.drug_given_mg("midazolam", None, events, T0, stopped) == 2.0
    assert core.drug_given_mg("ketamine", program, [], None, None) == 0.0  # never started


def test_reconciliation_and_allocation():
    lines = book()[:4]
    state = core.reconcile("ketamine", lines, 212.4)
    assert state.reconciled and state.outstanding_mg == 0.0
    late = core.reconcile("ketamine", lines[:3], 212.4)
    assert not late.reconciled and "87.6 mg unaccounted" in late.problem()
    changed = core.reconcile("ketamine", lines, 220.0)  # the record was amended after the administration
    assert not changed.reconciled and "record the administration again" in changed.problem()
    assert core.allocate(250, [(1, 200.0), (2, 100.0)]) == [(1, 200.0), (2, 50.0)]
    with pytest.raises(core.RegisterError) as over:
        core.allocate(301, [(1, 200.0), (2, 100.0)])
    assert over.value.code == "administered_exceeds_drawn"
