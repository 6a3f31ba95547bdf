"""The privacy review's attacks on the research export (its scripts in /tmp/rv), as pure tests that fail if an
attack works again: linking exports, the export date, small cells, weekdays, implausible values, time zones."""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ketaclinic.clinical.record import EventRow
from ketaclinic.interop import research as rx

T = datetime(2025, 3, 3, 9, tzinfo=UTC)
KEY = b"c" * 32  # the clinic's kept key


def _secret(n: int) -> bytes:
    return bytes([n + 1]) * 32


def _released_combinations(dataset: rx.Dataset) -> Counter:
    """What a recipient can group by: the patients' quasi-identifier columns and their number of session rows."""
    sessions = Counter(r["research_id"] for r in dataset.tables["sessions"])
    return Counter((p["sex"], p["age_band"], p["condition"], p["conditions"], rx.session_count_band(sessions[p["research_id"]]))
                   for p in dataset.tables["patients"])


def _s8_cohort() -> rx.Cohort:
    """The review's s8_cells: 12 women with CRPS aged 40-49, 11 men with fibromyalgia (one weighing 182 kg),
    one 17-year-old with sickle cell."""
    patients, sessions = [], []

    def add(pid: int, sex: str, age: int, conditions: tuple[str, ...], kg: float = 80.0) -> None:
        patients.append(rx.PatientRow(pid, date(2025 - age, 1, 1), sex, conditions))
        sessions.append(rx.SessionRow(pid, pid, T, "discharged", weight_kg=kg, started_at=T,
                                      ended_at=T + timedelta(hours=2)))

    pid = 0
    for age in [*range(40, 50), 49]:
        pid += 1
        add(pid, "female", age, ("crps",))
    for i in range(11):
        pid += 1
        add(pid, "male", 60 + i % 10, ("fibromyalgia",), kg=182.0 if i == 3 else 78.0)
    add(pid + 1, "female", 17, ("sickle_cell",))
    return rx.Cohort(tuple(patients), tuple(sessions))


def test_s8_no_exact_age_no_lone_suppressed_row_no_outlying_weight():
    dataset = rx.deidentify(_s8_cohort(), rx.Keys(_secret(0), KEY), k=11, as_of=T + timedelta(days=1))
    patients = dataset.tables["patients"]
    assert all("age_years" not in p for p in patients) and "age_years" not in {c.name for c in rx.TABLES["patients"]}
    assert len(patients) == 22 and dataset.suppression.patients_removed == 1, "the lone teenager is removed"
    assert not any(p["qi_suppressed"] == "all" for p in patients)
    assert min(_released_combinations(dataset).values()) >= 11, "before: 19 of 23 patients alone in their class"
    weights = Counter(s["weight_band"] for s in dataset.tables["sessions"])
    assert weights == {"80-84": 11, "75-79": 10, "≥150": 1}, "the 182 kg patient is only '≥150'"
    assert all(set(s) == {c.name for c in rx.TABLES["sessions"]} for s in dataset.tables["sessions"])


def _clinic(seed: int, n: int) -> rx.Cohort:
    """A clinic shaped like the review's data: ages 18-95, four sexes, one to three of the common conditions,
    1 to 9 sessions, weights 38-190 kg."""
    rnd = random.Random(seed)
    common = ["crps", "fibromyalgia", "migraine", "chronic_low_back", "diabetic_neuropathy", "phantom_limb"]
    patients, sessions = [], []
    sid = 0
    for pid in range(1, n + 1):
        conditions = tuple(rnd.sample(common, rnd.choice([1, 1, 1, 2, 3])))
        sex = rnd.choices(["female", "male", "other", "unknown"], [60, 36, 2, 2])[0]
        patients.append(rx.PatientRow(pid, date(2025 - rnd.randint(18, 95), rnd.randint(1, 12), 1), sex, conditions))
        day = T + timedelta(days=rnd.randrange(300))
        for _ in range(rnd.choice([1, 2, 3, 3, 3, 4, 5, 6, 7, 9])):
            sid += 1
            sessions.append(rx.SessionRow(sid, pid, day, "discharged", weight_kg=rnd.uniform(38, 190), started_at=day,
                                          ended_at=day + timedelta(hours=2)))
            day += timedelta(days=rnd.choice([2, 3, 7]))
    return rx.Cohort(tuple(patients), tuple(sessions))


@pytest.mark.parametrize(("seed", "n", "k"), [(1, 400, 11), (2, 400, 5), (3, 1500, 11), (4, 60, 11), (5, 120, 20)])
def test_every_released_combination_is_shared_by_at_least_k_patients(seed, n, k):
    """The docstring's guarantee, on clinic-shaped data: nothing a recipient can group by is rarer than k."""
    dataset = rx.deidentify(_clinic(seed, n), rx.Keys(_secret(seed), KEY), k=k, as_of=T + timedelta(days=400))
    combinations = _released_combinations(dataset)
    assert min(combinations.values()) >= k, [c for c, m in combinations.items() if m < k][:5]
    s = dataset.suppression
    assert len(dataset.tables["patients"]) + s.patients_removed == n
    assert {r["research_id"] for t in dataset.tables.values() for r in t} == {p["research_id"] for p in
                                                                              dataset.tables["patients"]}
    assert all(s["weight_band"] is None or s["weight_band"] in
               {"<45", "≥150", *(f"{w}-{w + 4}" for w in range(45, 150, 5))} for s in dataset.tables["sessions"])


def test_s2_linking_exports_by_content_narrows_nothing():
    """25 exports of the same cohort: ids differ every time, each patient's shifted days never do."""
    cohort = _clinic(7, 40)
    keys = [rx.Keys(_secret(i), KEY) for i in range(25)]
    datasets = [rx.deidentify(cohort, key, k=5, as_of=T + timedelta(days=400)) for key in keys]

    def days_by_patient(i: int) -> dict[int, list[date]]:
        rid = {keys[i].research_id(p.patient_id): p.patient_id for p in cohort.patients}
        out: dict[int, list[date]] = {}
        for s in datasets[i].tables["sessions"]:
            out.setdefault(rid[s["research_id"]], []).append(s["day"])
        return out

    first = days_by_patient(0)
    assert all(days_by_patient(i) == first for i in range(1, 25)), "each export allows the same window: no narrowing"
    assert len({keys[i].research_id(1) for i in range(25)}) == 25, "a new research id in every export"


def test_s3_weekdays_tell_nothing_about_the_shift():
    """A Monday-to-Friday clinic: with day shifts, the exported weekdays gave 19 of 40 patients' shift mod 7."""
    rnd = random.Random(1)
    patients, sessions = [], []
    sid = 0
    for pid in range(1, 41):
        patients.append(rx.PatientRow(pid, date(1970, 1, 1), "female", ("crps",)))
        day = datetime(2025, 1, 6, 9, tzinfo=UTC) + timedelta(days=rnd.randrange(300))
        for _ in range(6):
            while day.weekday() >= 5:
                day += timedelta(days=1)
            sid += 1
            sessions.append(rx.SessionRow(sid, pid, day, "discharged", started_at=day, ended_at=day + timedelta(hours=2)))
            day += timedelta(days=rnd.choice([1, 2, 3, 7]))
    keys = rx.Keys(_secret(0), KEY)
    dataset = rx.deidentify(rx.Cohort(tuple(patients), tuple(sessions)), keys, k=11, as_of=T + timedelta(days=400))
    real = {}
    for s in sessions:
        real.setdefault(keys.research_id(s.patient_id), []).append(s.started_at.weekday())
    exported = {}
    for s in dataset.tables["sessions"]:
        exported.setdefault(s["research_id"], []).append(s["day"].weekday())
    assert exported == real, "weekdays are the real ones: they carry no trace of the shift"
    candidates = {rid: [w for w in range(-26, 27) if w and all((d - timedelta(weeks=w)).weekday() < 5 for d in
                                                               [s["day"] for s in dataset.tables["sessions"]
                                                                if s["research_id"] == rid])]
                  for rid in exported}
    assert all(len(c) == 52 for c in candidates.values()), "every one of the 52 possible shifts stays possible"


def test_s7b_implausible_stored_values_are_blanked_and_counted():
    ps = [rx.PatientRow(i, date(1980, 1, 1), "female", ("crps",), baseline_pain_nrs=80 if i == 3 else 7)
          for i in range(11)]
    ss = [rx.SessionRow(i, i, T, "discharged", weight_kg=7000.0 if i == 2 else 70.0, started_at=T,
                        ended_at=T + timedelta(hours=2)) for i in range(11)]
    events = [EventRow(id=1, session_id=0, kind="vitals", minute=10.0, payload={"observation": {"systolic_mmhg": 120, "heart_rate_bpm": 80,
                                                                 "spo2_pct": 97, "moaas": 5}}),
              EventRow(id=2, session_id=0, kind="amendment", minute=20.0, payload={"correction": {"heart_rate_bpm": 5551234567,
                                                                   "systolic_mmhg": 19800615, "spo2_pct": -3}}, amends_event_id=1),
              EventRow(id=3, session_id=0, kind="medication", minute=30.0, payload={"drug": "ondansetron", "dose": 4155550123, "unit": "mg",
                                                     "route": "iv"}),
              EventRow(id=4, session_id=0, kind="medication", minute=31.0, payload={"drug": "ondansetron", "dose": 4000, "unit": "mcg", "route": "iv"}),
              EventRow(id=5, session_id=1, kind="rate_change", minute=40.0, payload={"rate_mg_per_h": 9e9, "rate_mg_per_kg_per_h": 0.3}),
              EventRow(id=6, session_id=1, kind="vitals", minute=99999.0, payload={"observation": {"systolic_mmhg": 300, "diastolic_mmhg": 20,
                                                                    "heart_rate_bpm": 250, "spo2_pct": 50,
                                                                    "respiratory_rate_per_min": 0, "moaas": 0}})]
    diary = [rx.DiaryRow(1, 4, T + timedelta(days=5), 42, mood=7), rx.DiaryRow(2, 5, T + timedelta(days=5), 6, mood=-1)]
    outcomes = [rx.OutcomeRow(3, "assessable", 80.0, T.date(), 4.0, 5, 95.0, 76.0, True, True, True),
                rx.OutcomeRow(4, "assessable", 7.0, T.date(), 3.0, 5, 57.1, 4.0, True, True, True)]
    cohort = rx.Cohort(tuple(ps), tuple(ss), tuple(events), tuple(diary), tuple(outcomes))
    data, manifest = rx.build_export(cohort, secret=_secret(0), shift_key=KEY, k=11, as_of=T + timedelta(days=60),
                                     generated_at=T + timedelta(days=60), version="test")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = {name: archive.read(name).decode() for name in archive.namelist() if not name.endswith(".parquet")}
    for number in ("5551234567", "19800615", "4155550123", "9000000000", "7000", "99999"):
        assert number not in "".join(text.values()), number
    assert manifest["implausible_values_blanked"] == {
        "diary.mood": 1, "diary.pain_nrs": 1, "events.dose": 1, "events.heart_rate_bpm": 1, "events.minute": 1,
        "events.rate_mg_per_h": 1, "events.spo2_pct": 1, "events.systolic_mmhg": 1, "outcomes.baseline_nrs": 1,
        "patients.baseline_pain_nrs": 1, "sessions.weight_band": 1}
    assert json.loads(text["manifest.json"])["implausible_values_blanked"] == manifest["implausible_values_blanked"]
    assert "11 in this export" in text["README.md"]
    outcome_rows = text["outcomes.csv"].splitlines()[1:]
    assert sum(",76," in row or ",95," in row for row in outcome_rows) == 0, "a reduction from an implausible score"
    assert sum(",57.1,4," in row for row in outcome_rows) == 1, "a sound outcome is kept as it is"
    events_csv = text["events.csv"]
    assert ",4,mg," not in events_csv and "4000,mcg" in events_csv, "4000 mcg = 4 mg: plausible, kept as recorded"
    assert "300,20,250,50,0,0" in events_csv, "the ends of each range are plausible"


def test_s17_days_are_the_clinics_days():
    la = ZoneInfo("America/Los_Angeles")
    start = datetime(2025, 3, 3, 17, 30, tzinfo=la)  # Monday 5:30 pm in the clinic, Tuesday in UTC
    ps = [rx.PatientRow(i, date(1980, 1, 1), "female", ("crps",)) for i in range(11)]
    ss = [rx.SessionRow(i, i, start, "discharged", started_at=start, ended_at=start + timedelta(hours=2)) for i in range(11)]
    cohort = rx.Cohort(tuple(ps), tuple(ss))
    keys = rx.Keys(_secret(0), KEY)
    dataset = rx.deidentify(cohort, keys, k=11, as_of=start + timedelta(days=30), tz=la)
    for row in dataset.tables["sessions"]:
        pid = next(i for i in range(11) if keys.research_id(i) == row["research_id"])
        assert row["day"] - timedelta(days=keys.shift_days(pid)) == date(2025, 3, 3)
        assert row["day"].weekday() == 0, "a Monday session stays a Monday"
    assert len(rx.select_cohort(cohort, start=date(2025, 3, 3), end=date(2025, 3, 3), tz=la).patients) == 11
    assert rx.select_cohort(cohort, start=date(2025, 3, 4), tz=la).patients == ()


def test_s1_the_export_date_pins_no_shift():
    """A session under way, or anything from the last 14 days, tied shifted dates to the export date (the
    manifest gave the exact time): s1_pin read a running session's shift straight off."""
    now = datetime(2026, 5, 20, 15, tzinfo=UTC)
    old = now - timedelta(days=60)
    ps = [rx.PatientRow(i, date(1980, 1, 1), "female", ("crps",)) for i in range(12)]
    ss = [rx.SessionRow(i + 20 * n, i, old + timedelta(days=3 * n), "discharged", started_at=old + timedelta(days=3 * n),
                        ended_at=old + timedelta(days=3 * n, hours=2), discharged_at=old + timedelta(days=3 * n, hours=3))
          for i in range(12) for n in (0, 1)]  # two sessions each: all in the 2-3 band, with the extras below
    recent = [rx.SessionRow(100, 0, now - timedelta(minutes=30), "running", started_at=now - timedelta(minutes=30)),
              rx.SessionRow(101, 1, now - timedelta(hours=3), "observing", started_at=now - timedelta(hours=3),
                            ended_at=now - timedelta(hours=1)),
              rx.SessionRow(102, 2, now - timedelta(hours=1), "checked_in"),
              rx.SessionRow(103, 3, now + timedelta(days=2), "scheduled"),
              rx.SessionRow(104, 4, now - timedelta(days=13), "discharged", started_at=now - timedelta(days=13),
                            ended_at=now - timedelta(days=13) + timedelta(hours=2)),
              rx.SessionRow(105, 5, now - timedelta(days=15), "discharged", started_at=now - timedelta(days=15),
                            ended_at=now - timedelta(days=15) + timedelta(hours=2)),
              rx.SessionRow(106, 6, now - timedelta(days=30), "cancelled")]
    diary = [rx.DiaryRow(d, 7, datetime.combine((now - timedelta(days=d)).date(), datetime.min.time().replace(hour=12),
                                                tzinfo=UTC), 5) for d in range(10, 20)]
    cohort = rx.Cohort(tuple(ps), (*ss, *recent), diary=tuple(diary))
    data, manifest = rx.build_export(cohort, secret=_secret(0), shift_key=KEY, k=11, as_of=now, generated_at=now,
                                     version="test")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        sessions = list(archive.read("sessions.csv").decode().splitlines())
        diary_rows = archive.read("diary.csv").decode().splitlines()[1:]
        manifest_text = archive.read("manifest.json").decode()
        readme = archive.read("README.md").decode()
    states = Counter(line.split(",")[5] for line in sessions[1:])
    assert states == {"discharged": 25, "cancelled": 1}, "nothing under way, nothing from the last 14 days"
    assert manifest["tables"]["sessions"]["rows"] == 26 and len(diary_rows) == 5, "diary before the cut-off day only"
    assert manifest["patients"] == 12 and manifest["suppression"]["patients_removed"] == 0
    assert manifest["generated_month"] == "2026-05" and manifest["data_up_to"] == "2026-05"
    assert manifest["data_cutoff_days"] == 14 and "generated_at" not in manifest
    for exact in ("2026-05-20", "2026-05-06", "15:00"):
        assert exact not in manifest_text and exact not in readme
    assert "Data up to 2026-05" in readme and "data up to 2026-05" in readme
    assert "manifest.json" in names
    # the cut-off alone: what the service's loader and build_export both apply
    cut = rx.cut_off(cohort, as_of=now)
    assert {s.session_id for s in cut.sessions} == {*range(12), *range(20, 32), 105, 106}
    assert rx.cutoff_day(now) == date(2026, 5, 6) and all(rx.diary_day(d) < date(2026, 5, 6) for d in cut.diary)
