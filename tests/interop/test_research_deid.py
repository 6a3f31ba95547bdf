"""The research export's de-identification as pure functions: keys, shifts, ages, small cells, doses, amendments, files."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from ketaclinic.clinical.record import EventRow
from ketaclinic.interop import research as rx
from ketaclinic.pharmacology.regimen import doses_as_given

SECRET = b"k" * 32
KEY = b"c" * 32  # the clinic's kept key (date shifts)
T = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PROGRAM = {"protocol": "outpatient_infusion", "route": "iv", "weight_kg": 70.0, "total_dose_mg": 84.0,
           "ketamine_lot_number": "LOT-SECRET-1",
           "program": [{"step": 1, "kind": "bolus", "dose_mg": 14.0, "duration_min": 5, "rate_mg_per_h": None},
                       {"step": 2, "kind": "infusion", "dose_mg": 70.0, "rate_mg_per_h": 35.0, "duration_min": 120}]}


def test_research_ids_are_new_per_export_and_shifts_follow_the_clinic_key():
    a, b = rx.Keys(SECRET, KEY), rx.Keys(b"z" * 32, KEY)
    shifts = [a.shift_days(pid) for pid in range(1, 3001)]
    assert all(1 <= abs(s) <= rx.SHIFT_MAX_DAYS for s in shifts), "never 0 (the real date), never beyond 26 weeks"
    assert all(s % 7 == 0 for s in shifts), "whole weeks: a weekday stays the same weekday"
    assert {s // 7 for s in shifts} == set(range(-26, 0)) | set(range(1, 27))
    assert 0.4 < sum(s > 0 for s in shifts) / len(shifts) < 0.6
    assert a.shift_days(7) == rx.Keys(SECRET, KEY).shift_days(7) and a.research_id(7) == rx.Keys(SECRET, KEY).research_id(7)
    ids_a = {a.research_id(pid) for pid in range(1, 3001)}
    ids_b = {b.research_id(pid) for pid in range(1, 3001)}
    assert len(ids_a) == 3000 and not ids_a & ids_b, "another export secret: no id in common"
    assert all(a.shift_days(p) == b.shift_days(p) for p in range(1, 3001)), "the same clinic key: the same shifts"
    other_clinic = rx.Keys(SECRET, b"d" * 32)
    assert sum(a.shift_days(p) == other_clinic.shift_days(p) for p in range(1, 3001)) < 120, "another key, other shifts"
    assert all(re.fullmatch(r"R[0-9a-f]{16}", rid) for rid in ids_a)
    assert "k" * 32 not in repr(a) and "c" * 32 not in repr(a)
    with pytest.raises(ValueError):
        rx.Keys(b"short", KEY)
    with pytest.raises(ValueError):
        rx.Keys(KEY, KEY)


@pytest.mark.parametrize(("birth", "on", "age", "band"), [
    (date(1980, 6, 15), date(2025, 6, 14), 44, "40-49"),
    (date(1980, 6, 15), date(2025, 6, 15), 45, "40-49"),
    (date(2000, 1, 1), date(2025, 1, 1), 25, "18-29"),
    (date(1935, 6, 16), date(2025, 6, 15), 89, "80-89"),
    (date(1935, 6, 15), date(2025, 6, 15), 90, "90+"),
    (date(2010, 1, 1), date(2025, 1, 1), 15, "<18"),
])
def test_age_in_whole_years_and_the_90_plus_band(birth, on, age, band):
    assert rx.age_in_years(birth, on) == age and rx.age_band(age) == band


def _patients(cells: list[tuple[str, int, str, int]], sessions: str = "2-3") -> list[dict]:
    """Rows as deidentify makes them, from (sex, age, conditions, how many)."""
    rows = []
    for sex, age, conditions, n in cells:
        for _ in range(n):
            rows.append({"sex": sex, "age_band": rx.age_band(age), "condition": conditions.split(";")[0],
                         "conditions": conditions, "session_count_band": sessions, "qi_suppressed": "none"})
    return rows


def test_small_cells_lose_sex_and_age_then_conditions():
    rows = _patients([("female", 45, "crps", 12)]  # a cell of 12: kept
                     + [(sex, age, "fibromyalgia", 1) for sex, age in
                        [("male", 25), ("female", 33), ("male", 41), ("female", 52), ("male", 58), ("female", 63),
                         ("male", 67), ("female", 71), ("male", 77), ("female", 84), ("male", 36)]]  # 11 cells of 1
                     + [("male", 81, "sickle_cell", 1)])  # a rare combination
    result = rx.suppress_small_cells(rows, 11)
    kept = [r for r in rows if r["qi_suppressed"] == "none"]
    generalised = [r for r in rows if r["qi_suppressed"] == "age_sex"]
    removed = [r for r in rows if r["qi_suppressed"] == "removed"]
    assert len(kept) == 12 and all(r["sex"] == "female" and r["age_band"] == "40-49" for r in kept)
    assert len(generalised) == 11 and all(r["sex"] is None and r["age_band"] is None and r["conditions"] == "fibromyalgia"
                                          for r in generalised)
    assert len(removed) == 1 and removed[0]["conditions"] is None and removed[0]["sex"] is None, \
        "the one patient left with nothing but a session band is alone in it: removed, not released"
    assert (result.patients_generalised, result.patients_fully_suppressed, result.patients_removed,
            result.cells_below_k) == (11, 0, 1, 12)
    assert result.values == {"patients.sex": 11, "patients.age_band": 11}, "values of released patients only"
    assert result.as_dict()["total_values_suppressed"] == 22 and result.as_dict()["patients_removed"] == 1
    # every released combination of quasi-identifiers is shared by at least k patients
    released = rx.released_cells(r for r in rows if r["qi_suppressed"] != "removed")
    assert min(released.values()) >= 11
    # the primary condition is part of the cell: 11 with the same list but one with another primary
    mixed = _patients([("female", 45, "crps;migraine", 11), ("female", 45, "migraine;crps", 1)])
    for r in mixed:
        r["conditions"] = "crps;migraine"
    rx.suppress_small_cells(mixed, 11)
    assert [r["qi_suppressed"] for r in mixed] == ["none"] * 11 + ["removed"]
    # k fully suppressed patients sharing a session band stay (their only released value is that band)
    again = _patients([("female", 45, "crps", 12)] + [("male", 20 + 10 * i, f"c{i}", 1) for i in range(5)])
    result = rx.suppress_small_cells(again, 5)
    assert (result.patients_fully_suppressed, result.patients_removed) == (5, 0)
    assert min(rx.released_cells(again).values()) >= 5
    # the session band is part of the cell: 12 alike but one with 7+ sessions
    banded = _patients([("female", 45, "crps", 11)]) + _patients([("female", 45, "crps", 1)], sessions="7+")
    assert rx.suppress_small_cells(banded, 11).patients_removed == 1 and banded[-1]["qi_suppressed"] == "removed"


def test_doses_follow_the_pump_as_run():
    rows = rx.session_doses(PROGRAM, weight_kg=70.0, rate_changes=[(40.0, 21.0, False), (80.0, 28.0, True)],
                            extra_boluses=[(90.0, 10.0, "iv", False)], stopped_at_min=100.0)
    assert [(r["source"], r["kind"], r["start_min"], r["duration_min"]) for r in rows] == [
        ("program", "bolus", 0.0, 5.0), ("program", "infusion", 5.0, 35.0), ("rate_change", "infusion", 40.0, 40.0),
        ("rate_change", "infusion", 80.0, 20.0), ("extra_bolus", "bolus", 90.0, None)]
    bolus, first, second, third, extra = rows
    assert bolus["dose_mg"] == 14.0 and bolus["dose_mg_per_kg"] == 0.2 and bolus["rate_mg_per_h"] is None
    assert first["rate_mg_per_h"] == 35.0 and first["rate_mg_per_kg_per_h"] == 0.5 and first["dose_mg"] == round(35 * 35 / 60, 2)
    assert second["rate_mg_per_h"] == 21.0 and second["dose_mg"] == 14.0 and not second["amended"]
    assert third["amended"] and third["rate_mg_per_h"] == 28.0
    assert extra["dose_mg"] == 10.0 and extra["dose_mg_per_kg"] == 0.14, "per kg to 2 decimals"
    # the same reading as the curve the console draws (pharmacology.regimen.doses_as_given)
    given, _ = doses_as_given(PROGRAM["program"], [(40.0, 21.0), (80.0, 28.0)], 100.0)
    assert sum(r["dose_mg"] for r in rows[:4]) == pytest.approx(sum(d.dose_mg for d in given), abs=0.02)
    # not stopped yet: the whole program as planned
    whole = rx.session_doses(PROGRAM, weight_kg=70.0)
    assert sum(r["dose_mg"] for r in whole) == pytest.approx(84.0) and len(whole) == 2


def _event(event_id, kind, payload, minute=10.0, amends=None, session_id=1):
    return EventRow(id=event_id, session_id=session_id, kind=kind, minute=minute, payload=payload,
                       amends_event_id=amends)


VITALS = {"observation": {"minute": 10, "systolic_mmhg": 182, "diastolic_mmhg": 104, "heart_rate_bpm": 80, "spo2_pct": 97,
                          "respiratory_rate_per_min": 14, "moaas": 5,
                          "side_effects": [{"code": "dizziness", "severity": "mild"}]}, "alerts": []}


def test_amendments_export_the_corrected_value_never_free_text():
    events = [
        _event(1, "vitals", VITALS),
        _event(2, "medication", {"drug": "Ondansetron 4 mg for Mrs Jones", "dose": 4, "unit": "mg", "route": "iv",
                                 "lot_number": "LOT-77", "reason": "nausea, told Mrs Jones"}),
        _event(3, "side_effect", {"code": "nausea", "severity": "mild", "note": "Mrs Jones felt sick"}),
        _event(4, "note", {"text": "Mrs Jones arrived with her daughter"}),
        _event(5, "amendment", {"amends_event_id": 1, "reason": "typo, Mrs Jones", "amended_kind": "vitals",
                                "correction": {"systolic_mmhg": 128, "diastolic_mmhg": "eighty"}}, amends=1),
        _event(6, "amendment", {"amends_event_id": 3, "reason": "x", "correction": {"code": "Mrs Jones", "severity": "severe"}},
               amends=3),
        _event(7, "medication", {"drug": "John Smith", "dose": 1, "unit": "mg", "route": "iv", "lot_number": "L"}),
        _event(8, "alert", {"code": "bp_critical", "severity": "critical", "action": "pause_infusion",
                            "message": "for Mrs Jones", "source": "delsant2020", "vitals_event_id": 1}),
    ]
    out = {e.event.id: e for e in rx.corrected_events(events, {1: 70.0})}
    assert set(out) == {1, 2, 3, 7, 8}, "notes and amendments are not exported as rows"
    vitals = out[1]
    assert vitals.amended and vitals.rows[0]["systolic_mmhg"] == 128.0
    assert vitals.rows[0]["diastolic_mmhg"] is None, "a correction that is not a number empties the value"
    assert vitals.rows[1] == {"kind": "side_effect", "with_vitals": True, "code": "dizziness", "severity": "mild"}
    assert out[2].rows[0]["drug"] == "ondansetron" and out[7].rows[0]["drug"] == "other"
    assert out[3].amended and out[3].rows[0] == {"code": None, "severity": "severe"}
    assert out[8].rows[0] == {"code": "bp_critical", "severity": "critical", "action": "pause_infusion"}
    assert "Jones" not in json.dumps([e.rows for e in out.values()])


def _cohort(n: int, *, birth: date = date(1970, 5, 5)) -> rx.Cohort:
    patients, sessions, events, diary, outcomes = [], [], [], [], []
    for pid in range(1, n + 1):
        patients.append(rx.PatientRow(pid, birth if pid > 1 else date(1930, 1, 1), "female", ("crps",), 8.0, "eligible"))
        for k, gap in enumerate((0, 3, 10)):
            sid = pid * 10 + k
            start = T + timedelta(days=pid + gap)
            sessions.append(rx.SessionRow(sid, pid, start, "discharged", "outpatient_infusion", 70.4, start,
                                          start + timedelta(minutes=125), start + timedelta(minutes=190), PROGRAM))
            events.append(_event(sid * 10, "vitals", VITALS, session_id=sid))
            events.append(_event(sid * 10 + 1, "rate_change", {"rate_mg_per_h": 21.0, "rate_mg_per_kg_per_h": 0.3,
                                                               "reason": "Xyzzy reason typed"}, minute=60.0, session_id=sid))
        for d in range(4):
            diary.append(rx.DiaryRow(pid * 100 + d, pid, T + timedelta(days=pid + 12 + d), 4 + d % 3, 6, 5, 5, 12.5,
                                     {"frequency": d == 1}))
        diary.append(rx.DiaryRow(pid * 100 + 9, pid, T + timedelta(days=pid + 12), 2, amends_id=pid * 100))
        outcomes.append(rx.OutcomeRow(pid, "assessable", 8.0, (T + timedelta(days=pid + 10)).date(), 4.0, 4, 50.0, 4.0,
                                      True, True, True, 30.0, True))
    return rx.Cohort(tuple(patients), tuple(sessions), tuple(events), tuple(diary), tuple(outcomes))


def _read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _typed(table: str, row: dict[str, str]) -> dict:
    kinds = {c.name: c.type for c in rx.TABLES[table]}
    convert = {"string": str, "integer": int, "number": float, "boolean": lambda v: v == "true",
               "date": date.fromisoformat}
    return {name: (convert[kinds[name]](value) if value != "" else None) for name, value in row.items()}


def test_the_tables_shift_dates_keep_intervals_and_match_the_dictionary():
    cohort = _cohort(12)
    keys = rx.Keys(SECRET, KEY)
    dataset = rx.deidentify(cohort, keys, k=11, as_of=T + timedelta(days=60))
    t = dataset.tables
    assert {name: len(rows) for name, rows in t.items()} == {"patients": 11, "sessions": 33, "doses": 33 * 3, "events": 33 * 3, "diary": 44,
                                    "outcomes": 11, "questionnaires": 0}, "the 95-year-old, alone in every cell, is removed from every table"
    assert dataset.suppression.patients_removed == 1
    assert keys.research_id(1) not in {r["research_id"] for rows in t.values() for r in rows}
    for table, rows in t.items():
        assert all(list(r) == [c.name for c in rx.TABLES[table]] for r in rows)
    for pid in range(2, 13):
        rid, shift = keys.research_id(pid), timedelta(days=keys.shift_days(pid))
        days = [s["day"] for s in t["sessions"] if s["research_id"] == rid]
        assert days == [(T + timedelta(days=pid + g)).date() + shift for g in (0, 3, 10)]
        assert [(b - a).days for a, b in zip(days, days[1:], strict=False)] == [3, 7], "intervals exact"
        entries = [d for d in t["diary"] if d["research_id"] == rid]
        assert [d["pain_nrs"] for d in entries] == [2, 5, 6, 4] and entries[0]["amended"] and entries[1]["urinary_frequency"]
        outcome = next(o for o in t["outcomes"] if o["research_id"] == rid)
        assert outcome["course_end_day"] - days[0] == timedelta(days=10)
    others = t["patients"]
    assert {(p["sex"], p["age_band"], p["conditions"], p["qi_suppressed"]) for p in others} == {
        ("female", "50-59", "crps", "none")} and "age_years" not in others[0], "the band, never the exact age"
    assert [p["research_id"] for p in t["patients"]] == sorted(keys.research_id(p) for p in range(2, 13))
    session = t["sessions"][0]
    assert session["weight_band"] == "70-74" and session["infusion_min"] == 125.0 and session["observation_min"] == 65.0
    assert session["given_dose_mg"] == pytest.approx(14 + 35 * 55 / 60 + 21 * 65 / 60, abs=0.02)


def test_too_small_a_cohort_and_an_empty_one_are_refused_without_a_count():
    with pytest.raises(rx.CohortTooSmall) as small:
        rx.deidentify(_cohort(4), rx.Keys(SECRET, KEY), k=5, as_of=T)
    assert small.value.k == 5 and str(small.value) == "the cohort has fewer than k = 5 patients"
    assert "4" not in str(small.value), "the refusal never says how many (it would count any cohort)"
    with pytest.raises(rx.CohortEmpty):
        rx.deidentify(rx.Cohort(), rx.Keys(SECRET, KEY), k=11, as_of=T)
    with pytest.raises(ValueError):
        rx.deidentify(rx.Cohort(), rx.Keys(SECRET, KEY), k=4, as_of=T)
    # 12 patients, each alone in their cell: suppression would remove them all, so nothing is released
    lonely = rx.Cohort(tuple(rx.PatientRow(p, date(1930 + 5 * p, 1, 1), "female", ("crps",)) for p in range(12)),
                       tuple(rx.SessionRow(p * 10 + n, p, T, "discharged", started_at=T + timedelta(days=n))
                             for p in range(12) for n in range(1 + p % 8)))
    with pytest.raises(rx.CohortTooSmall):
        rx.deidentify(lonely, rx.Keys(SECRET, KEY), k=11, as_of=T)


def test_cohort_selection_by_condition_and_first_session():
    cohort = _cohort(6)
    chosen = rx.select_cohort(cohort, start=(T + timedelta(days=3)).date(), end=(T + timedelta(days=5)).date())
    assert {p.patient_id for p in chosen.patients} == {3, 4, 5}, "by the first session, not any session"
    assert {s.patient_id for s in chosen.sessions} == {3, 4, 5} and {d.patient_id for d in chosen.diary} == {3, 4, 5}
    assert {e.session_id // 10 for e in chosen.events} == {3, 4, 5}
    assert rx.select_cohort(cohort, condition="migraine").patients == ()
    untreated = rx.Cohort(patients=(rx.PatientRow(99, date(1970, 1, 1), "male", ("crps",)),))
    assert rx.select_cohort(untreated).patients == (), "never treated: not in a research cohort"


def test_csv_and_parquet_hold_the_same_rows_and_only_the_dictionary_columns():
    cohort = _cohort(12)
    files = {}
    for fmt in rx.FORMATS:
        data, manifest = rx.build_export(cohort, secret=SECRET, shift_key=KEY, k=11, fmt=fmt,
                                         as_of=T + timedelta(days=60), generated_at=T + timedelta(days=61),
                                         version="test")
        files[fmt] = _read_zip(data)
        assert set(files[fmt]) == {f"{name}.{fmt}" for name in rx.TABLES} | {"data_dictionary.csv", "README.md",
                                                                               "manifest.json"}
        assert json.loads(files[fmt]["manifest.json"])["tables"]["doses"]["rows"] == 99
    dictionary = {(r["table"], r["column"]) for r in _csv_rows(files["csv"]["data_dictionary.csv"])}
    columns = set()
    for table in rx.TABLES:
        rows = _csv_rows(files["csv"][f"{table}.csv"])
        header = next(csv.reader(io.StringIO(files["csv"][f"{table}.csv"].decode())))
        parquet = pq.read_table(io.BytesIO(files["parquet"][f"{table}.parquet"]))
        assert parquet.column_names == header
        columns |= {(table, name) for name in header}
        assert [_typed(table, r) for r in rows] == parquet.to_pylist(), table
        assert {f.name: str(f.type) for f in parquet.schema} == {
            c.name: {"string": "string", "integer": "int64", "number": "double", "boolean": "bool", "date": "date32[day]"}[c.type]
            for c in rx.TABLES[table]}
        assert parquet.schema.field(header[-1]).metadata[b"description"]
    assert columns == dictionary, "the dictionary lists every column of every table and nothing else"
    readme = files["csv"]["README.md"].decode()
    assert "164.514(b)(2)" in readme and "| R |" in readme and "cms-cell-suppression-policy" in readme
    for text in (files["csv"][n] for n in files["csv"]):
        assert b"LOT-SECRET-1" not in text and b"Xyzzy" not in text
