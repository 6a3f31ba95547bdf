"""The research export end to end through the service, on the synthetic demo clinic (SQLite, seeded once
per module), and one flow-built clinic on both engines.

The demo is searched for every identifier it holds (names, phones, e-mails, birth dates, every free
text and lot number, every real timestamp) in every file of the ZIP, as bytes and as read back.
Where a check needs to know which research id is which patient, the test builds the export with a
secret it chose, through the same loader and builder the service uses (the service's own secret
is never known to anyone).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import zipfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from ketaclinic.demo import seed_demo
from ketaclinic.interop import research as rx
from ketaclinic.records.audit import verify_chain
from ketaclinic.records.db import Database
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.follow_up import RiskCheck
from ketaclinic.records.inquiries import Inquiry
from ketaclinic.records.patients import Patient
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.users import User
from ketaclinic.services import diary as diary_service
from ketaclinic.services import sessions as ss
from ketaclinic.services.audit import AuditFilter, list_audit
from ketaclinic.services.auth import actor_for
from ketaclinic.services.errors import Forbidden, ValidationFailed
from ketaclinic.services.patients import PatientIn, create_patient
from ketaclinic.services.research_export import load_cohort, research_export
from ketaclinic.settings import Settings
from tests.interop.flows import DISCHARGE, NORMAL_VITALS, T0, completed, event, running, signed_plan

pytestmark = pytest.mark.xdist_group("research_export")  # one worker seeds the 24-patient demo once (ungrouped, both did)
DEMO_NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SECRET = bytes(range(32))
KEY = bytes(range(32, 64))
DATE = re.compile(rb"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, sqlite_template, cheap_password_hashing):
    """The synthetic demo clinic (24 patients), seeded once for the module."""
    path = tmp_path_factory.mktemp("research") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    settings = Settings(env="test", database_url=f"sqlite:///{path}", secret_key="research-test-secret-key-0123456789abcdef")
    db = Database(settings.database_url)
    summary = seed_demo(db, settings, now=DEMO_NOW, patients=24)
    assert summary.seeded
    with db.reading() as session:
        actors = {u.role: actor_for(u, "127.0.0.1") for u in session.scalars(select(User))}
    yield db, actors
    db.dispose()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def table_rows(files: dict[str, bytes], table: str) -> list[dict[str, Any]]:
    """A table's rows as Python values, from CSV or Parquet."""
    if f"{table}.parquet" in files:
        return pq.read_table(io.BytesIO(files[f"{table}.parquet"])).to_pylist()
    kinds = {c.name: c.type for c in rx.TABLES[table]}
    convert = {"string": str, "integer": int, "number": float, "boolean": lambda v: v == "true", "date": date.fromisoformat}
    return [{k: (convert[kinds[k]](v) if v != "" else None) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(files[f"{table}.csv"].decode()))]


def searchable(files: dict[str, bytes]) -> list[bytes]:
    """Every file as bytes, plus every Parquet table's values as text (its pages are compressed)."""
    out = list(files.values())
    for name, data in files.items():
        if name.endswith(".parquet"):
            out.append(json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), default=str).encode())
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def forbidden_strings(db: Database) -> set[str]:
    """What must never leave: each patient's identifiers, and every free text, lot number and timestamp on record."""
    out: set[str] = set()
    with db.reading() as session:
        for p in session.scalars(select(Patient)):
            out |= {p.family_name, f"{p.given_name} {p.family_name}", p.birth_date.isoformat()}
            out |= {v for v in (p.phone, p.email) if v}
        for e in session.scalars(select(SessionEvent)):
            out |= {s for s in _strings(e.payload) if not re.fullmatch(r"[a-z0-9_]+", s)}  # all but codes
            out.add(e.recorded_at.isoformat())
        for v in session.scalars(select(InfusionSession)):
            program = v.pump_program or {}
            out |= {str(program[k]) for k in ("ketamine_lot_number", "plan_signed_at") if program.get(k)}
            out |= {s for s in _strings(v.checklist or {}) if ":" in s}
            out |= {t.isoformat() for t in (v.scheduled_at, v.started_at, v.ended_at, v.discharged_at) if t}
        out |= {d.note for d in session.scalars(select(DiaryEntry)) if d.note}
        out |= {e.notes for e in session.scalars(select(Evaluation)) if e.notes}
        out |= {r.note for r in session.scalars(select(RiskCheck)) if r.note}
        for i in session.scalars(select(Inquiry)):
            out |= {s for s in (i.name, i.email, i.message) if s}
    return {s for s in out if len(s) >= 6}


def test_nothing_that_identifies_a_patient_leaves(demo):
    db, actors = demo
    forbidden = forbidden_strings(db)
    assert len(forbidden) > 200 and any("@example.invalid" in s for s in forbidden) \
        and any(s.startswith("SYN-KET-") for s in forbidden) and any(s.startswith("DEMO-OND-") for s in forbidden)
    for fmt in rx.FORMATS:
        data, manifest = research_export(db, actors["admin"], format=fmt, k=11, now=DEMO_NOW)
        files = unzip(data)
        assert manifest["patients"] >= 11 and manifest["tables"]["events"]["rows"] > 100
        haystacks = searchable(files)
        leaks = sorted(s for s in forbidden if any(s.encode() in h for h in haystacks))
        assert leaks == [], leaks[:10]
        for name, content in files.items():
            if not name.endswith((".json", ".md")):
                assert not re.search(rb"\d{2}:\d{2}", content) or name.endswith(".parquet"), f"a time of day in {name}"
        for p in haystacks:
            assert b"(demo)" not in p and b"555 01" not in p


def _export_with_known_secret(db: Database, fmt: str = "csv", **select: Any) -> tuple[dict[str, bytes], rx.Cohort]:
    """The service's loader and builder with a secret and key the test chose (the service draws its own
    secret and forgets it, and reads the clinic's key)."""
    with db.reading() as session:
        cohort = load_cohort(session, as_of=DEMO_NOW, **select)
    data, _ = rx.build_export(cohort, secret=SECRET, shift_key=KEY, k=11, fmt=fmt, as_of=DEMO_NOW,
                              generated_at=DEMO_NOW + timedelta(days=400), version="test")
    return unzip(data), cohort


def test_dates_move_per_patient_and_intervals_stay_exact(demo):
    db, _ = demo
    files, cohort = _export_with_known_secret(db)
    keys = rx.Keys(SECRET, KEY)
    sessions, diary = table_rows(files, "sessions"), table_rows(files, "diary")
    released = {r["research_id"] for r in table_rows(files, "patients")}
    shifts = {}
    checked = 0
    for patient in cohort.patients:
        pid, rid = patient.patient_id, keys.research_id(patient.patient_id)
        if rid not in released:  # removed by small-cell suppression
            assert not any(r["research_id"] == rid for r in sessions + diary)
            continue
        shift = timedelta(days=keys.shift_days(pid))
        shifts[pid] = shift
        real = sorted(((s.started_at or s.scheduled_at).date(), s.session_id) for s in cohort.sessions if s.patient_id == pid)
        exported = [r["day"] for r in sessions if r["research_id"] == rid]
        assert exported == [day + shift for day, _ in real]
        assert [(b - a).days for a, b in zip(exported, exported[1:], strict=False)] == \
            [(b[0] - a[0]).days for a, b in zip(real, real[1:], strict=False)]
        entries = rx.effective_diary(d for d in cohort.diary if d.patient_id == pid)
        real_diary = sorted(d.recorded_at.date() for d in entries)
        exported_diary = sorted(r["day"] for r in diary if r["research_id"] == rid)
        assert exported_diary == [day + shift for day in real_diary]
        checked += len(real_diary)
        assert all(e != r for e, r in zip(exported_diary, real_diary, strict=True)), "no row keeps its real date"
        assert 1 <= abs(shift.days) <= rx.SHIFT_MAX_DAYS
    assert checked > 200 and len(shifts) >= 11
    assert len(set(shifts.values())) > len(shifts) // 2, "each patient has their own shift (drawn: a few may coincide)"
    # the only dates anywhere in the export are the shifted days of its rows (the export gives months only)
    shifted = {r[c.name].isoformat().encode() for t, cols in rx.TABLES.items() for r in table_rows(files, t)
               for c in cols if c.type == "date" and r[c.name] is not None}
    for name, content in files.items():
        assert set(DATE.findall(content)) <= shifted, name
    manifest = json.loads(files["manifest.json"])
    assert manifest["generated_month"] == "2027-06" and manifest["data_up_to"] == "2026-04"
    assert "generated_at" not in manifest


def _first_days_by_content(files: dict[str, bytes]) -> dict[tuple, date]:
    """What a recipient can do: recognise a patient by their rows' content, whatever the id."""
    content: dict[str, list] = {}
    first: dict[str, date] = {}
    for r in table_rows(files, "sessions"):
        content.setdefault(r["research_id"], []).append((r["weight_band"], r["planned_dose_mg"], r["given_dose_mg"]))
        if r["session_no"] == 1:
            first[r["research_id"]] = r["day"]
    for r in table_rows(files, "diary"):
        content.setdefault(r["research_id"], []).append((r["pain_nrs"], r["mood"], r["sleep"]))
    fingerprints = {rid: tuple(rows) for rid, rows in content.items()}
    assert len(set(fingerprints.values())) == len(fingerprints), "every patient recognisable by content"
    return {fingerprints[rid]: day for rid, day in first.items()}


def test_two_exports_differ_in_ids_but_keep_each_patients_shift(demo):
    """The review's s2_avg: with a new shift per export, linking patients by content across 25 exports narrowed
    the real first-session day to a median window of 29 days. With the clinic's key, every export gives the
    same shifted days, so a second export adds nothing."""
    db, actors = demo
    exports = [research_export(db, actors["admin"], format="csv", now=DEMO_NOW) for _ in range(3)]
    files = [unzip(data) for data, _ in exports]
    ids = [{r["research_id"] for r in table_rows(f, "patients")} for f in files]
    assert not ids[0] & ids[1] and not ids[1] & ids[2], "research ids are new in every export"
    first_days = [_first_days_by_content(f) for f in files]
    assert first_days[0] == first_days[1] == first_days[2] and len(first_days[0]) >= 11, \
        "matched by content, each patient's shifted days are the same: no window narrows"
    assert exports[0][1]["sha256"] != exports[1][1]["sha256"]
    # the key is kept once, in the database only: not in any file, audit entry or page of the log
    from ketaclinic.records.research_keys import ResearchKey

    with db.reading() as session:
        keys = list(session.scalars(select(ResearchKey)))
        audit_text = json.dumps([e.detail for e in list_audit(db, actors["admin"], AuditFilter(action="research.export"),
                                                              limit=50).items])
    assert len(keys) == 1 and keys[0].purpose == "date_shift" and len(keys[0].secret) == 32
    assert "secret=<hidden>" in repr(keys[0]) and keys[0].secret.hex() not in repr(keys[0])
    for f in files:
        for blob in searchable(f):
            assert keys[0].secret not in blob and keys[0].secret.hex().encode() not in blob
    assert keys[0].secret.hex() not in audit_text


def test_small_cells_are_suppressed_and_counted(demo):
    db, actors = demo
    data, manifest = research_export(db, actors["admin"], format="parquet", k=11, now=DEMO_NOW)
    files = unzip(data)
    patients = table_rows(files, "patients")
    s = manifest["suppression"]
    emptied = Counter(f"patients.{c}" for r in patients if r["qi_suppressed"] != "none"
                      for c in ("sex", "age_band", "condition", "conditions") if r[c] is None)
    assert s["values_suppressed"] == dict(emptied) and s["total_values_suppressed"] == sum(emptied.values()) > 0
    assert s["patients_generalised"] + s["patients_fully_suppressed"] == sum(r["qi_suppressed"] != "none" for r in patients)
    assert s["k"] == 11 and "CMS" in s["policy"] and s["patients_removed"] > 0
    assert "age_years" not in patients[0]
    # every released combination, the number of sessions included, is shared by at least k patients
    count = Counter(r["research_id"] for r in table_rows(files, "sessions"))
    released = Counter((r["sex"], r["age_band"], r["condition"], r["conditions"], rx.session_count_band(count[r["research_id"]]))
                       for r in patients)
    assert all(n >= 11 for n in released.values()), released
    assert set(count) == {r["research_id"] for r in patients}, "removed patients have no rows anywhere"


def test_the_audit_log_holds_each_export_with_its_parameters(demo):
    db, actors = demo
    start, end = (DEMO_NOW - timedelta(days=400)).date(), (DEMO_NOW - timedelta(days=60)).date()
    data, manifest = research_export(db, actors["admin"], format="csv", k=5, start=start, end=end, now=DEMO_NOW)
    entry = list_audit(db, actors["admin"], AuditFilter(action="research.export"), limit=1).items[0]
    assert entry.username == "admin" and entry.role == "admin" and entry.record_type == "research_export"
    detail = entry.detail
    assert {k: detail[k] for k in ("format", "k", "condition", "start", "end")} == {
        "format": "csv", "k": 5, "condition": None, "start": start.isoformat(), "end": end.isoformat()}
    assert detail["sha256"] == hashlib.sha256(data).hexdigest() == manifest["sha256"]
    assert detail["rows"] == {name: t["rows"] for name, t in manifest["tables"].items()}
    assert detail["patients"] == manifest["patients"] > 0
    assert detail["data_cutoff_day"] == "2026-04-17", "the exact cut-off stays in the clinic's audit log"
    assert not {"secret", "key"} & set(detail)
    with db.reading() as session:
        assert verify_chain(session).intact
    # the cohort is chosen by the first session, and the real range is not in the export
    with db.reading() as session:
        everyone = load_cohort(session, as_of=DEMO_NOW)
        chosen = load_cohort(session, as_of=DEMO_NOW, start=start, end=end)
    first = rx.first_session_day(everyone.sessions)
    in_range = {pid for pid, d in first.items() if start <= d <= end}
    assert {p.patient_id for p in chosen.patients} == in_range and 0 < len(in_range) < len(first)
    assert manifest["patients"] + manifest["suppression"]["patients_removed"] == len(in_range)
    # loaded for the chosen patients only, the rows are those of the whole clinic's load, chosen afterwards
    assert chosen == rx.select_cohort(everyone, start=start, end=end)
    files = unzip(data)
    for name in ("manifest.json", "README.md"):  # (in the tables, a shifted day may fall on the same date by chance)
        assert start.isoformat().encode() not in files[name] and end.isoformat().encode() not in files[name]
    assert json.loads(files["manifest.json"])["cohort"]["first_session_range"].startswith("applied")


def test_only_the_admin_exports_and_bad_parameters_are_refused(demo):
    db, actors = demo
    for role in ("physician", "nurse", "coordinator", "patient"):
        with pytest.raises(Forbidden):
            research_export(db, actors[role], format="csv", condition="crps")
        refusal = list_audit(db, actors["admin"], AuditFilter(action="research.export.refused"), limit=1).items[0]
        assert refusal.username == role and refusal.detail == {
            "format": "csv", "k": 11, "condition": "crps", "start": None, "end": None, "reason": "forbidden"}
    cases = [({"k": 4}, "k", "at least 5"), ({"format": "xlsx"}, "format", "csv, parquet"),
             ({"start": date(2026, 3, 1), "end": date(2026, 1, 1)}, "end", "on or before"),
             ({"condition": "gout"}, "condition", "unknown condition")]
    for params, field, words in cases:
        with pytest.raises(ValidationFailed) as refused:
            research_export(db, actors["admin"], **params)
        assert refused.value.field == field and words in refused.value.message and refused.value.status == 422



def test_refusals_are_audited_and_never_count_the_cohort(demo):
    """The review's s10_oracle: refused exports left no audit entry, and the refusal said "the cohort has 1
    patient", so any filter could be counted one question at a time, unseen."""
    db, actors = demo
    with db.reading() as session:
        everyone = load_cohort(session, as_of=DEMO_NOW)
    first = sorted(rx.first_session_day(everyone.sessions).items(), key=lambda item: item[1])
    one_day = first[3][1]
    small_counts = set()
    for condition in ("crps", "fibromyalgia", None):
        day_cohort = load_cohort_count(db, condition, one_day)
        if not 0 < day_cohort < 11:
            continue
        small_counts.add(day_cohort)
        with pytest.raises(ValidationFailed) as small:
            research_export(db, actors["admin"], condition=condition, start=one_day, end=one_day, k=11, now=DEMO_NOW)
        assert small.value.code == "cohort_too_small" and small.value.status == 422
        assert "fewer than k = 11 patients" in small.value.message
        assert not re.search(r"has \d|\d+ patients?\b(?! \()", small.value.message.replace("k = 11", "")), \
            small.value.message
        entry = list_audit(db, actors["admin"], AuditFilter(action="research.export.refused"), limit=1).items[0]
        assert entry.detail == {"format": "csv", "k": 11, "condition": condition, "start": one_day.isoformat(),
                                "end": one_day.isoformat(), "reason": "cohort_too_small"}
    assert small_counts, "the demo has a small cohort to refuse"
    with pytest.raises(ValidationFailed) as empty:
        research_export(db, actors["admin"], condition="sickle_cell", start=one_day, end=one_day, now=DEMO_NOW)
    assert empty.value.code == "cohort_empty" and empty.value.status == 422 and "empty" in empty.value.message
    entry = list_audit(db, actors["admin"], AuditFilter(action="research.export.refused"), limit=1).items[0]
    assert entry.detail["reason"] == "cohort_empty" and entry.detail["condition"] == "sickle_cell"


def load_cohort_count(db: Database, condition: str | None, day: date) -> int:
    with db.reading() as session:
        return len(load_cohort(session, as_of=DEMO_NOW, condition=condition, start=day, end=day).patients)


# --- both engines: a clinic built through the services, with known times --------------------


def test_export_of_a_flow_built_clinic(db, clinic):
    """Five patients, two sessions a week apart each; one session with an extra ketamine bolus, a note, a
    lot number and an amended blood pressure; diaries with notes and an amended entry."""
    coordinator, nurse = clinic.actors["coordinator"], clinic.actors["nurse"]
    ids = [clinic.own_patient_id, clinic.other_patient_id]
    for i in range(3):
        ids.append(create_patient(db, coordinator, PatientIn(
            given_name="Synthetic", family_name=f"Flowperson{i} (demo)", birth_date=date(1950 + i, 2, 3), sex="male",
            phone=f"+1 555 0199{i}", email=f"flow{i}@example.invalid", weight_kg=70.0)).id)
    first_days = []
    for n, pid in enumerate(ids):
        at = T0 + timedelta(days=3 * n)
        plan = signed_plan(db, clinic, pid, now=at - timedelta(days=2))
        if n == 0:
            visit = running(db, clinic, plan, at)
            vitals = event(db, nurse, visit.id, {**NORMAL_VITALS, "systolic_mmhg": 171}, at + timedelta(minutes=15))
            event(db, nurse, visit.id, {"kind": "medication", "drug": "ketamine", "dose": 7, "unit": "mg", "route": "iv",
                                        "lot_number": "LOT-FLOW-4242"}, at + timedelta(minutes=30))
            event(db, nurse, visit.id, {"kind": "note", "text": "Flowperson spoke of her sister Quintessa"},
                  at + timedelta(minutes=31))
            event(db, nurse, visit.id, {"kind": "amendment", "amends_event_id": vitals.id,
                                        "reason": "Quintessa's reading, typed in the wrong row",
                                        "correction": {"systolic_mmhg": 131}}, at + timedelta(minutes=32))
            visit = ss.stop_infusion(db, nurse, visit.id, ss.get_session(db, nurse, visit.id).version,
                                     now=at + timedelta(minutes=120))
            ss.discharge_session(db, nurse, visit.id, visit.version, ss.DischargeIn.model_validate(DISCHARGE),
                                 now=at + timedelta(minutes=185))
        else:
            completed(db, clinic, plan, at)
        completed(db, clinic, plan, at + timedelta(days=7))
        first_days.append(at.date())
        for d in range(1, 6):
            entry = diary_service.add_entry(db, nurse, diary_service.DiaryIn(
                patient_id=pid, day=(at + timedelta(days=7 + d)).date(), pain_nrs=4, note="Called Quintessa today"),
                now=at + timedelta(days=8 + d))
        diary_service.add_entry(db, nurse, diary_service.DiaryIn(patient_id=pid, day=entry.day, pain_nrs=3,
                                                                 amends_id=entry.id), now=at + timedelta(days=20))
    now = T0 + timedelta(days=60)
    data, manifest = research_export(db, clinic.actors["admin"], format="csv", k=5, now=now)
    files = unzip(data)
    assert manifest["patients"] == 5 and manifest["tables"]["sessions"]["rows"] == 10
    for text in searchable(files):
        for secret in (b"Quintessa", b"LOT-FLOW-4242", b"Flowperson", b"example.invalid", b"555 0199", b"1970-01-02",
                       b"T09:00", flows_lot()):
            assert secret not in text
    sessions = table_rows(files, "sessions")
    by_patient: dict[str, list[date]] = {}
    for row in sessions:
        by_patient.setdefault(row["research_id"], []).append(row["day"])
        assert row["state"] == "discharged" and row["infusion_min"] == 120.0 and row["observation_min"] == 65.0
    assert all((b - a).days == 7 for a, b in by_patient.values()), "the week between the sessions is exact"
    assert sorted(days[0] for days in by_patient.values()) != sorted(first_days), "the days are shifted"
    events = table_rows(files, "events")
    amended = [e for e in events if e["amended"]]
    assert len(amended) == 1 and amended[0]["systolic_mmhg"] == 131.0 and amended[0]["kind"] == "vitals"
    assert {e["kind"] for e in events} == {"vitals", "medication", "alert"}
    alert = next(e for e in events if e["kind"] == "alert")  # 171 mmHg (43 above the baseline): the 160 tier, 4.4 v2
    assert (alert["code"], alert["severity"], alert["action"], alert["minute"]) == \
        ("bp_elevated", "warning", "reduce_rate", 15.0)
    medication = next(e for e in events if e["kind"] == "medication")
    assert (medication["drug"], medication["dose"], medication["dose_unit"], medication["route"]) == ("ketamine", 7.0, "mg", "iv")
    extra = [d for d in table_rows(files, "doses") if d["source"] == "extra_bolus"]
    assert len(extra) == 1 and extra[0]["dose_mg"] == 7.0 and extra[0]["start_min"] == 30.0
    assert extra[0]["research_id"] == amended[0]["research_id"]
    diary = table_rows(files, "diary")
    assert len(diary) == 25 and sum(d["amended"] for d in diary) == 5 and Counter(d["pain_nrs"] for d in diary) == {4: 20, 3: 5}
    outcomes = table_rows(files, "outcomes")
    assert {o["status"] for o in outcomes} == {"assessable"} and all(o["responder_50"] for o in outcomes)
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export"), limit=1).items[0]
    assert entry.detail["patients"] == 5 and entry.detail["sha256"] == hashlib.sha256(data).hexdigest()


def flows_lot() -> bytes:
    from tests.interop.flows import KETAMINE_LOT

    return KETAMINE_LOT.encode()


def test_sessions_under_way_and_the_last_14_days_stay_in_the_clinic(db, clinic):
    """The review's s1_pin: a running session's shifted day minus the export day (in the manifest) gave its
    patient's shift. Now nothing under way and nothing from the last 14 days leaves; the export says months."""
    from tests.interop.flows import checked_in

    ids = [clinic.own_patient_id, clinic.other_patient_id]
    for i in range(3):
        ids.append(create_patient(db, clinic.actors["coordinator"], PatientIn(
            given_name="Synthetic", family_name=f"Cutoff{i} (demo)", birth_date=date(1960, 1, 1 + i), sex="female",
            weight_kg=70.0)).id)
    now = T0 + timedelta(days=60)  # 2026-05-01 09:00 UTC: the cut-off day is 2026-04-17
    plans = {}
    for n, pid in enumerate(ids):
        plans[pid] = signed_plan(db, clinic, pid, now=T0 + timedelta(days=n))
        completed(db, clinic, plans[pid], T0 + timedelta(days=n + 3))
        completed(db, clinic, plans[pid], T0 + timedelta(days=n + 10))
    running(db, clinic, plans[ids[0]], now - timedelta(minutes=30))
    completed(db, clinic, plans[ids[1]], now - timedelta(days=3))
    checked_in(db, clinic, plans[ids[2]], now - timedelta(hours=1))
    for back in range(2, 20):
        diary_service.add_entry(db, clinic.actors["nurse"], diary_service.DiaryIn(
            patient_id=ids[3], day=(now - timedelta(days=back)).date(), pain_nrs=3), now=now)
    data, manifest = research_export(db, clinic.actors["admin"], format="csv", k=5, now=now)
    files = unzip(data)
    sessions = table_rows(files, "sessions")
    assert len(sessions) == 10 and {s["state"] for s in sessions} == {"discharged"}, "two old sessions each, no more"
    assert len(table_rows(files, "diary")) == 18 - 14 + 1, "the diary up to 2026-04-16 only"
    assert (manifest["data_up_to"], manifest["data_cutoff_days"]) == ("2026-04", 14)
    assert re.fullmatch(r"\d{4}-\d{2}", manifest["generated_month"]) and "generated_at" not in manifest
    assert manifest["filename"] == f"ketaclinic-research-{manifest['generated_month']}.zip"
    for name in ("manifest.json", "README.md"):
        assert not DATE.search(files[name]), f"no day in {name}"
    with db.reading() as session:
        cohort = load_cohort(session, as_of=now)
    assert all(o.course_end < date(2026, 4, 17) for o in cohort.outcomes if o.course_end), "outcomes as of the cut-off"
    entry = list_audit(db, clinic.actors["admin"], AuditFilter(action="research.export"), limit=1).items[0]
    assert entry.detail["data_cutoff_day"] == "2026-04-17", "the exact day stays in the audit log"
