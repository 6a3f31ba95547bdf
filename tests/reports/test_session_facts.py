"""What a session's events say, as the session record and the course letter print it (pure; no PDF)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from ketaclinic.clinical.record import EventRow
from ketaclinic.reports.letters import window_means
from ketaclinic.reports.lookup import Citations, short_cite
from ketaclinic.reports.session_facts import (
    alerts,
    fmt,
    ketamine_given_mg,
    rate_changes,
    record_lines,
    side_effects,
    summarise,
)
from ketaclinic.services.diary import current_by_day

START = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
PROGRAM = {"weight_kg": 68.0, "concentration_mg_per_ml": 1.0, "program": [
    {"step": 1, "kind": "bolus", "dose_mg": 13.6, "rate_mg_per_h": 163.2, "rate_ml_per_h": 163.2, "duration_min": 5.0,
     "dose_mg_per_kg": 0.2, "label": "loading bolus"},
    {"step": 2, "kind": "infusion", "dose_mg": 136.0, "rate_mg_per_h": 34.0, "rate_ml_per_h": 34.0, "duration_min": 240.0,
     "rate_mg_per_kg_per_h": 0.5, "label": "maintenance infusion"}]}
NAMES = {None: "—", 7: "nurse", 8: "physician"}


def at(minute: float) -> datetime:
    return START + timedelta(minutes=minute)


def row(event_id: int, kind: str, payload: dict, minute: float, by: int = 7, amends: int | None = None) -> EventRow:
    return EventRow(id=event_id, kind=kind, payload=payload, minute=minute, recorded_at=at(minute), recorded_by=by,
                    amends_event_id=amends)


EVENTS = [
    row(1, "vitals", {"observation": {"systolic_mmhg": 132, "diastolic_mmhg": 84, "heart_rate_bpm": 78, "spo2_pct": 98,
                                      "respiratory_rate_per_min": 14, "moaas": 5,
                                      "side_effects": [{"code": "nausea", "severity": "moderate"}]}}, 30),
    row(2, "alert", {"code": "nausea_vomiting", "severity": "warning", "action": "give_medication",
                     "message": "Moderate nausea.", "source": "clinic_policy"}, 30),
    row(3, "alert_ack", {"alert_event_id": 2, "action_taken": "ondansetron given", "alert_code": "nausea_vomiting"}, 33, 8),
    row(4, "rate_change", {"rate_mg_per_h": 27.2, "rate_ml_per_h": 27.2, "rate_mg_per_kg_per_h": 0.4, "reason": "nausea"}, 35),
    row(5, "rate_change", {"rate_mg_per_h": 20.4, "rate_ml_per_h": 20.4, "rate_mg_per_kg_per_h": 0.3, "reason": "still sick"}, 65),
    row(6, "side_effect", {"code": "dissociation", "severity": "mild"}, 50),
    row(7, "amendment", {"reason": "was moderate", "correction": {"severity": "moderate"}, "amended_kind": "side_effect"},
        55, 8, amends=6),
    row(8, "side_effect", {"code": "nausea", "severity": "mild"}, 70),
    row(9, "medication", {"drug": "ketamine", "dose": 5, "unit": "mg", "route": "iv", "lot_number": "L1"}, 80),
    row(10, "alert", {"code": "spo2_low", "severity": "critical", "action": "stop_infusion", "message": "SpO2 88 %.",
                      "source": "clinic_policy"}, 90),
]


def test_each_rate_change_names_the_rate_it_replaced():
    changes = rate_changes(PROGRAM, EVENTS, NAMES)
    assert [(c.old_mg_per_h, c.new_mg_per_h) for c in changes] == [(34.0, 27.2), (27.2, 20.4)]
    assert [(c.old_ml_per_h, c.new_ml_per_h) for c in changes] == [(34.0, 27.2), (27.2, 20.4)]
    assert changes[0].old_mg_per_kg_per_h == 0.5 and changes[1].old_mg_per_kg_per_h == 0.4
    assert changes[0].reason == "nausea" and changes[1].by == "nurse"


def test_ketamine_given_follows_the_pump_not_the_plan():
    changes = rate_changes(PROGRAM, EVENTS, NAMES)
    expected = 13.6 + 34 * (35 - 5) / 60 + 27.2 * (65 - 35) / 60 + 20.4 * (120 - 65) / 60
    assert ketamine_given_mg(PROGRAM, changes, 120.0) == pytest.approx(round(expected, 1))
    # no change and no stop: the whole program
    assert ketamine_given_mg(PROGRAM, [], None) == pytest.approx(149.6)
    # stopped during the slow push: only what ran
    assert ketamine_given_mg(PROGRAM, [], 2.5) == pytest.approx(6.8)


def test_the_summary_adds_extra_iv_ketamine_and_counts_a_running_session_to_now():
    summary = summarise(PROGRAM, 68.0, START, START + timedelta(minutes=120), EVENTS, NAMES, now=at(500))
    changes = rate_changes(PROGRAM, EVENTS, NAMES)
    assert summary.extra_ketamine_mg == 5.0
    assert summary.total_mg == pytest.approx(ketamine_given_mg(PROGRAM, changes, 120.0) + 5.0)
    assert summary.mg_per_kg == pytest.approx(round(summary.total_mg / 68, 2))
    assert summary.infusion_min == 120
    running = summarise(PROGRAM, None, START, None, [], NAMES, now=at(65))
    assert running.infusion_min == 65
    assert running.total_mg == pytest.approx(round(13.6 + 34 * 60 / 60, 1))
    assert running.mg_per_kg == pytest.approx(round(running.total_mg / 68, 2))  # the program's weight when not weighed


def test_side_effects_take_the_correction_and_the_worst_severity():
    found = {s.code: s.severity for s in side_effects(EVENTS)}
    assert found == {"nausea": "moderate", "dissociation": "moderate"}


def test_alerts_carry_their_answer_and_an_open_one_says_so():
    found = alerts(EVENTS, NAMES)
    assert [(a.code, a.action_taken, a.answered_by) for a in found] == [
        ("nausea_vomiting", "ondansetron given", "physician"), ("spo2_low", None, None)]
    assert found[0].answered_at == at(33)


def test_the_record_keeps_the_original_and_shows_the_correction_beside_it():
    lines = {line.id: line for line in record_lines(PROGRAM, EVENTS, NAMES)}
    assert [line.id for line in record_lines(PROGRAM, EVENTS, NAMES)] == [1, 2, 3, 4, 6, 7, 5, 8, 9, 10]
    assert lines[6].text == "dissociation (mild)"  # never rewritten
    assert lines[6].corrections == [{"id": 7, "at": at(55), "by": "physician", "reason": "was moderate",
                                     "text": "severity: moderate"}]
    assert lines[7].amends == 6 and "was moderate" in lines[7].text
    assert lines[4].text.startswith("34 → 27.2 mL/h · 34 → 27.2 mg/h (0.5 → 0.4 mg/kg/h) · reason: nausea")
    assert lines[2].alert is not None and lines[2].alert.action_taken == "ondansetron given"
    assert "lot L1" in lines[9].text
    assert "side effects: nausea (moderate)" in lines[1].text


def test_numbers_print_without_trailing_zeros_but_keep_whole_tens():
    assert [fmt(240), fmt(27.20), fmt(0.5, 3), fmt(None), fmt(-0.01)] == ["240", "27.2", "0.5", "—", "0"]


def test_citations_are_short_in_the_text_and_listed_once():
    assert short_cite("asra2018") == "Cohen et al. 2018"
    assert short_cite("chung1995_padss") == "Chung et al. 1995"
    assert short_cite("wilson1927") == "Wilson 1927"
    assert short_cite("clinic_policy") == "clinic policy"
    cite = Citations()
    assert [cite("asra2018"), cite("clinic_policy"), cite("asra2018"), cite("immpact2008")] == [
        "Cohen et al. 2018", "clinic policy", "Cohen et al. 2018", "Dworkin et al. 2008"]
    assert [s["id"] for s in cite.listing()] == ["asra2018", "immpact2008"]
    assert "Reg Anesth Pain Med" in cite.listing()[0]["full"]


def _entry(entry_id: int, day: date, pain: int, function: int | None = None, doses=(), amends: int | None = None):
    return SimpleNamespace(id=entry_id, recorded_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC), pain_nrs=pain,
                           function=function, opioid_doses=list(doses), amends_id=amends)


def test_diary_windows_use_corrected_entries_and_count_opioid_free_days_as_zero():
    d = date(2026, 3, 1)
    entries = [_entry(1, d, 8, 3, [{"opioid": "oxycodone", "daily_dose_mg": 20}]),
               _entry(2, d + timedelta(days=1), 9, 2),
               _entry(3, d + timedelta(days=1), 7, 4, amends=2),  # corrects the day before's 9
               _entry(4, d + timedelta(days=2), 6, None, [{"opioid": "morphine", "daily_dose_mg": 30}]),
               _entry(5, d + timedelta(days=9), 1, 9)]  # outside the window
    by_day = current_by_day(entries)
    assert by_day[d + timedelta(days=1)].id == 3
    means = window_means(by_day, d, d + timedelta(days=2))
    assert means.days == 3
    assert means.pain == pytest.approx(round((8 + 7 + 6) / 3, 1))
    assert means.function == pytest.approx(3.5) and means.function_days == 2
    assert means.mme == pytest.approx(round((30 + 0 + 30) / 3, 1))
    assert means.opioid_days == 2
    empty = window_means(by_day, d - timedelta(days=10), d - timedelta(days=1))
    assert (empty.days, empty.pain, empty.mme) == (0, None, None)
