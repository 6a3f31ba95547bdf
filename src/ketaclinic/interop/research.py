"""The de-identified research export: pure functions over plain rows (no database, no clock, no I/O).

A research export is one ZIP of six tables (patients, sessions, doses, events, diary, outcomes),
a data dictionary, a README and a manifest. Everything that leaves the clinic is decided here, so
it can be tested without a database; :mod:`ketaclinic.services.research_export` only loads the
rows (never a name, phone, e-mail or free text: those columns are not even read) and audits.

**Pseudonyms and date shifts.** A patient's research id is HMAC-SHA256(secret, "id:<patient
id>") under a fresh random secret per export (:func:`new_secret`, 32 bytes from :mod:`secrets`),
used in memory and never stored, logged or exported: ids differ in every export and cannot be
traced back to a chart. The date shift is HMAC-SHA256(clinic key, "shift:<patient id>") turned
into a whole number of *weeks*, uniform over −26…−1 and +1…+26 (never 0, which would publish the
real dates). The clinic key is 32 random bytes made on the first export and kept in the database
(:mod:`ketaclinic.records.research_keys`), never exported or logged. Why a kept key: a recipient
can link one patient's rows across exports by content (the same diary values, doses, intervals);
with a new shift in every export, each one allowed a different window of real dates, and their
intersection narrowed the real dates export after export (the review's s2_avg: a median window
of 29 days after 25 exports). With the same shift every time, a second export tells nothing
new. Whole weeks, because a clinic that treats on weekdays only would otherwise publish each
shift modulo 7 in the weekdays of its sessions (s3_weekday: 19 of 40 patients). Every date of a
patient moves by the same shift, so intervals within a patient are exact. Rows are sorted by
research id, so not even the row order follows the clinic's record order.

**What the export date would give away.** A session still running on the export day, or a
diary entry from yesterday, ties a shifted date to a known real one (s1_pin: a running session
gave its patient's shift exactly). So sessions not discharged or cancelled, and every session and
diary entry of the last :data:`CUTOFF_DAYS` days before the export, are left out (clinic policy,
stated in the manifest as "data up to <month>"), and the export names only the month it was
made in (the audit log keeps the exact time). Days are the clinic's days: timestamps are turned
into dates in the clinic's time zone (Settings.clinic_timezone), not UTC.

**HIPAA Safe Harbor, 45 CFR 164.514(b)(2).** The rule lists 18 identifiers (A-R) of the patient,
relatives, employers or household members that must be removed, and (ii) requires no actual
knowledge that what remains could identify someone. Text as reproduced by the Johns Hopkins IRB,
https://www.hopkinsmedicine.org/institutional_review_board/hipaa_research/de_identified_data.html
(checked 2026). How each applies here is in :data:`SAFE_HARBOR` (also written into every
export's README):

- (A) names, (D) telephone, (E) fax, (F) e-mail: never read from the database, never exported;
  free text (notes, reasons, comments, acknowledgement text, cancellation reasons, diary notes,
  the inquiry form) is dropped whole, because a note can hold a name. Medication names are kept
  only when they are in a fixed vocabulary (:data:`MEDICATIONS`), otherwise "other".
- (B) geography smaller than a state: KetaClinic records no address; nothing to export.
- (C) dates: birth date → the age band at the first session (<18, 18-29, 30-39, ..., 80-89,
  90+; the rule allows a single "90 or older" category). Every other date is shifted per patient
  as above and given as a day (no time of day); within a session, time is minutes since the
  infusion started. Strictly, Safe Harbor keeps only the year of a date: a secret per-patient
  shift is the common research practice (it keeps seasons roughly and intervals exactly), but a
  clinic that must rely on the letter of Safe Harbor alone, rather than an expert determination
  (164.514(b)(1)), should have its privacy officer approve it.
- (G)-(K) SSN, medical record, health plan, account, certificate/licence numbers: not recorded or
  not exported; internal record ids (patient, session, event, plan) are replaced by the research
  id and ordinals (session_no, event_no), so (R) "any other unique identifying number" is met. The
  research id is a re-identification code in the sense of 164.514(c): not derived in a way anyone
  can reverse (the key is discarded) and never disclosed with a key.
- (L) vehicle, (M) device identifiers and serial numbers: none exported; drug lot numbers and
  pump details are dropped.
- (N) URLs, (O) IP addresses: the audit log's IP addresses and any link are never exported.
- (P) biometrics, (Q) photographs: KetaClinic records none.

**Small cells.** Sex × age band × conditions (the primary one and the whole list) × the number of
sessions (banded 1, 2-3, 4-6, 7+: the session rows show it) are quasi-identifiers. A patient
whose combination is shared by fewer than *k* patients of the cohort loses sex and age band; if
the conditions with the session band are still rarer than *k* among those, the conditions go
too; and if the patients left with nothing but their session band are fewer than *k*, they are
removed from every table. Every released combination of (sex, age band, condition, conditions,
session band) is then shared by at least *k* patients (:func:`released_cells` checks it, and the
export stops if not). *k* is 11 by default, the CMS cell size suppression policy ("no cell ...
containing a value of 1 to 10 can be reported directly",
https://www.hhs.gov/guidance/document/cms-cell-suppression-policy, version 05/08/17); a clinic
may set 5 or more. A cohort of 1 to k−1 patients is refused whole (the refusal does not say how
many), and the manifest counts every value suppressed and every patient removed. Weight leaves
only in 5-kg bands, clamped at "<45" and "≥150" (a 182-kg patient was alone in the review's data).

**Implausible values.** A value outside the ranges the event models accept (vital signs as
:class:`ketaclinic.clinical.monitoring.Observation`, doses at most 5000 mg, weight 30-250 kg as
contract 4.3) cannot be a measurement: it is a slip, or a number typed into the wrong field (a
phone number as a heart rate). Stored rows older than those checks, or imported, could still
hold one, so the export blanks it and counts it in the manifest.

Amended events export the corrected value (only when it fits the column's vocabulary, type and
range) and ``amended = true``; the amendment's reason, being free text, never leaves.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Literal, get_args

from ketaclinic.clinical.conditions import ConditionId
from ketaclinic.clinical.monitoring import (
    DEFAULT_ALERT_RULES,
    MAX_SESSION_MIN,
    SIDE_EFFECT_CODES,
    SIDE_EFFECT_SEVERITIES,
    Action,
    Observation,
    Severity,
)
from ketaclinic.clinical.protocols import PROTOCOLS
from ketaclinic.clinical.record import EventRow
from ketaclinic.pharmacology.regimen import Bolus, doses_from_pump_program

# --- the rules ----------------------------------------------------------------------------

SHIFT_MAX_WEEKS = 26
SHIFT_MAX_DAYS = 7 * SHIFT_MAX_WEEKS  # 182
CUTOFF_DAYS = 14  # clinic policy: nothing from the last 14 days before the export
DEFAULT_K = 11  # CMS cell size suppression policy: no cell of 1 to 10
MIN_K = 5
MAX_K = 1000
TOP_AGE = 90  # 164.514(b)(2)(i)(C): ages over 89 only as "90 or older"
WEIGHT_BAND_KG = 5
WEIGHT_LOW_KG, WEIGHT_HIGH_KG = 45, 150  # bands clamped to "<45" and "≥150"
WEIGHT_RANGE_KG = (30.0, 250.0)  # contract 4.3: a weight outside it is a hard error
MAX_DOSE_MG = 5000.0  # as services.sessions checks a corrected rate
FORMATS = ("csv", "parquet")
SECRET_BYTES = 32
SAFE_HARBOR_RULE = "45 CFR 164.514(b)(2)"
SAFE_HARBOR_URL = "https://www.hopkinsmedicine.org/institutional_review_board/hipaa_research/de_identified_data.html"
CMS_CELL_POLICY_URL = "https://www.hhs.gov/guidance/document/cms-cell-suppression-policy"
DATE_RULE = (f"Every date is shifted by a secret whole number of weeks per patient (between -{SHIFT_MAX_WEEKS} and "
             f"+{SHIFT_MAX_WEEKS} weeks, never 0), derived from a key the clinic keeps and never discloses, so a patient's "
             "shift is the same in every export. All of a patient's dates move together: intervals within a patient "
             "are exact and weekdays are real, but calendar dates and the order of patients in time are not. Dates "
             "are the clinic's local days. Times of day are not exported; within a session, time is minutes since the "
             "infusion started.")
CUTOFF_RULE = (f"Sessions not yet discharged or cancelled, and every session and diary entry of the last {CUTOFF_DAYS} "
               "days before the export, are left out (clinic policy: recent rows would tie shifted dates to the "
               "export date); the export gives only the month it was made in.")
USE_CAVEAT = ("Decision support / research use: an uncontrolled, unblinded clinic cohort with self-reported pain. "
              "Use it for research questions and quality improvement, never to judge an individual patient, and "
              "make no attempt to re-identify anyone.")
CAVEATS = (
    USE_CAVEAT,
    "Research ids are new in every export, but a patient's date shift is the same in every export (it comes from "
    "the clinic's key): two exports cannot be joined by id, yet a patient's rows can be matched across exports by "
    "their content. Matching them reveals nothing more about the real dates, since the shift does not change.",
    "Overlapping cohorts can still be compared: a patient who is in one export but not in another, chosen by a "
    "different range of first-session dates, had their first session inside the difference of the two ranges, "
    "which narrows their shift for every export. The real date range is recorded only in the clinic's audit log: "
    "never send it along, and do not release exports of overlapping cohorts to the same recipient without need.",
    CUTOFF_RULE,
    "HIPAA Safe Harbor keeps only the year of a date: the per-patient shifted dates go beyond its letter, so a "
    "release that must rest on Safe Harbor alone (rather than an expert determination, 45 CFR 164.514(b)(1)) needs "
    "the privacy officer's approval.",
    "Weight is given in 5-kg bands (<45 and ≥150 at the ends), but dose_mg and rate_mg_per_h with the protocol's "
    "mg/kg still give the dosing weight roughly; weight is not a Safe Harbor identifier, but treat the tables as "
    "confidential all the same.",
)

QUASI_IDENTIFIERS = ("sex", "age_band", "condition", "conditions", "session_count_band")
SESSION_COUNT_BANDS = ((1, "1"), (3, "2-3"), (6, "4-6"), (math.inf, "7+"))
SEXES = ("female", "male", "other", "unknown")
CONDITIONS: frozenset[str] = frozenset(c.value for c in ConditionId)
PROTOCOL_IDS: frozenset[str] = frozenset(p.id for p in PROTOCOLS)
ALERT_CODES: frozenset[str] = frozenset(r.code for r in DEFAULT_ALERT_RULES)
ALERT_SEVERITIES: frozenset[str] = frozenset(get_args(Severity))
ALERT_ACTIONS: frozenset[str] = frozenset(get_args(Action))
SESSION_STATES = ("scheduled", "checked_in", "running", "observing", "discharged", "cancelled")
EXPORTED_SESSION_STATES = frozenset({"discharged", "cancelled"})  # the others are still under way
ROUTES = frozenset({"iv", "oral", "im", "sc", "sublingual", "intranasal", "inhaled", "topical"})
DOSE_UNITS = frozenset({"mg", "mcg", "g", "mL", "units"})
SCREENING_DECISIONS = frozenset({"eligible", "eligible_with_precautions", "not_eligible"})
OUTCOME_STATUSES = ("assessable", "follow_up_too_short", "no_completed_session", "no_signed_evaluation",
                    "no_baseline_pain")
#: Medications kept by name (the first word of what the nurse typed, lower case); anything else is "other".
MEDICATIONS = frozenset({
    "ketamine", "esketamine", "ondansetron", "granisetron", "metoclopramide", "prochlorperazine", "promethazine",
    "droperidol", "dexamethasone", "midazolam", "lorazepam", "diazepam", "clonidine", "dexmedetomidine",
    "glycopyrrolate", "atropine", "diphenhydramine", "labetalol", "hydralazine", "metoprolol", "esmolol",
    "naloxone", "flumazenil", "acetaminophen", "paracetamol", "oxygen", "magnesium", "lidocaine", "saline",
})
EXPORTED_EVENT_KINDS = ("vitals", "side_effect", "alert", "alert_ack", "rate_change", "medication")
VITAL_FIELDS = ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct", "respiratory_rate_per_min", "moaas")


class CohortTooSmall(ValueError):
    """1 to k-1 patients: every cell would be below the threshold, so nothing is released.

    The message never says how many: a refusal that counted would answer "how many patients
    match?" for any filter, one question at a time.
    """

    def __init__(self, k: int):
        super().__init__(f"the cohort has fewer than k = {k} patients")
        self.k = k


class CohortEmpty(ValueError):
    """No patient matches (or none is left after the data cut-off): there is nothing to export."""

    def __init__(self) -> None:
        super().__init__("no patient matches: the cohort is empty")


# --- the data dictionary: the one definition of every column ------------------------------

ColumnType = Literal["string", "integer", "number", "boolean", "date"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    unit: str
    description: str
    deidentification: str


PSEUDONYM = ("pseudonym: HMAC-SHA256 of the internal patient id under a random secret made for this export and "
             "discarded; a new id in every export, so exports cannot be joined by id")
SHIFTED = (f"shifted by the patient's secret offset (±1 to {SHIFT_MAX_WEEKS} whole weeks, the same for all of the "
           "patient's dates and in every export); a day in the clinic's time zone")
ORDINAL = "ordinal within the patient or session (internal record ids are not exported)"
RECORDED = "as recorded (not an identifier)"
CODED = "coded value from a fixed vocabulary; free text and unknown values are dropped"
DERIVED = "derived from recorded values"
QI = ("quasi-identifier: empty when its sex x age band x condition(s) x session count cell has fewer than k "
      "patients")
CORRECTED = ("the corrected value when the event was amended; the amendment's reason (free text) is dropped; "
             "empty when outside the range the event model accepts (implausible)")
PLAUSIBLE = RECORDED + "; empty outside its range (implausible)"


def _col(name: str, type_: ColumnType, unit: str, description: str, deid: str = RECORDED) -> Column:
    return Column(name, type_, unit, description, deid)


_RID = _col("research_id", "string", "", "The patient's research id in this export", PSEUDONYM)
_SESSION_NO = _col("session_no", "integer", "", "The patient's sessions numbered 1, 2, ... in time order", ORDINAL)

TABLES: dict[str, tuple[Column, ...]] = {
    "patients": (
        _RID,
        _col("age_band", "string", "years", "Age band at the first session: <18, 18-29, 30-39, ..., 80-89, 90+",
             "computed from the birth date, which is not exported (nor the exact age); ages over 89 only as 90+ "
             "(Safe Harbor); " + QI),
        _col("sex", "string", "", "female, male, other or unknown", QI),
        _col("condition", "string", "", "The primary pain condition (contract 4.2 vocabulary); outcomes are by it",
             QI + " (with conditions)"),
        _col("conditions", "string", "", "Every pain condition of the current signed evaluation, ';'-separated, sorted",
             QI),
        _col("baseline_pain_nrs", "number", "NRS 0-10", "Pain now at the current signed evaluation (pain.nrs_now)",
             PLAUSIBLE),
        _col("screening_decision", "string", "", "eligible, eligible_with_precautions or not_eligible", CODED),
        _col("qi_suppressed", "string", "", "Quasi-identifiers suppressed for this patient: none, age_sex or all "
             "(all: only the number of sessions is left, shared by at least k such patients)", DERIVED),
    ),
    "sessions": (
        _RID, _SESSION_NO,
        _col("day", "date", "", "Day of the session (the start, else the scheduled day); how many sessions a "
             "patient has is part of the quasi-identifier cell (1, 2-3, 4-6, 7+)", SHIFTED),
        _col("protocol_id", "string", "", "The protocol of the signed plan (ketaclinic dose --list-protocols)", CODED),
        _col("route", "string", "", "Route of the programmed ketamine (iv, oral, intranasal, im)", CODED),
        _col("state", "string", "", "discharged or cancelled (sessions still under way are not exported)", CODED),
        _col("weight_band", "string", "kg", "Weight on the day of the session in 5-kg bands: <45, 45-49, ..., "
             "145-149, ≥150", "banded; the ends clamped so that no outlying weight stands out; empty outside "
             "30-250 kg (implausible)"),
        _col("infusion_min", "number", "min", "Minutes from the start of the infusion to its stop", DERIVED),
        _col("observation_min", "number", "min", "Minutes from the stop of the infusion to discharge", DERIVED),
        _col("planned_dose_mg", "number", "mg", "Total ketamine of the pump program taken from the signed plan"),
        _col("given_dose_mg", "number", "mg", "Total ketamine given: the program as run (rate changes, stop) and "
             "extra ketamine boluses; the sum of the session's rows in doses", DERIVED),
    ),
    "doses": (
        _RID, _SESSION_NO,
        _col("dose_no", "integer", "", "The session's doses numbered 1, 2, ... by start", ORDINAL),
        _col("source", "string", "", "program (as programmed), rate_change (an infusion after a nurse's rate change) "
             "or extra_bolus (extra ketamine recorded as a medication)", DERIVED),
        _col("kind", "string", "", "bolus (a slow push), infusion (a constant rate) or oral", CODED),
        _col("route", "string", "", "iv, oral, intranasal, im, ...", CODED),
        _col("start_min", "number", "min", "Start, minutes since the infusion started", DERIVED),
        _col("duration_min", "number", "min", "How long it ran (empty for an oral dose or an extra bolus)", DERIVED),
        _col("dose_mg", "number", "mg", "Ketamine given in this row", DERIVED),
        _col("dose_mg_per_kg", "number", "mg/kg", "dose_mg per kg of the dosing weight, to 0.01 mg/kg",
             DERIVED + "; rounded to 2 decimals"),
        _col("rate_mg_per_h", "number", "mg/h", "Infusion rate (empty for a bolus or an oral dose)", DERIVED),
        _col("rate_mg_per_kg_per_h", "number", "mg/kg/h", "Infusion rate per kg of the dosing weight", DERIVED),
        _col("amended", "boolean", "", "The rate or dose comes from an amended event", DERIVED),
    ),
    "events": (
        _RID, _SESSION_NO,
        _col("event_no", "integer", "", "The session's exported events numbered 1, 2, ... in recording order", ORDINAL),
        _col("minute", "number", "min", "Minutes since the infusion started (empty before the start)",
             RECORDED + "; empty outside 0-7200 (implausible)"),
        _col("kind", "string", "", "vitals, side_effect, alert, alert_ack, rate_change or medication "
             "(notes, amendments and state changes are not exported)", CODED),
        _col("systolic_mmhg", "number", "mmHg", "Systolic blood pressure (vitals)", CORRECTED),
        _col("diastolic_mmhg", "number", "mmHg", "Diastolic blood pressure (vitals)", CORRECTED),
        _col("heart_rate_bpm", "number", "/min", "Heart rate (vitals)", CORRECTED),
        _col("spo2_pct", "number", "%", "Oxygen saturation (vitals)", CORRECTED),
        _col("respiratory_rate_per_min", "number", "/min", "Respiratory rate (vitals)", CORRECTED),
        _col("moaas", "integer", "0-5", "Modified Observer's Assessment of Alertness/Sedation (vitals; 5 = awake)",
             CORRECTED),
        _col("code", "string", "", "Side effect code (contract 4.4), or the alert rule's code (side_effect, alert, "
             "alert_ack)", CODED + "; " + CORRECTED),
        _col("severity", "string", "", "mild/moderate/severe (side effect) or warning/critical (alert)",
             CODED + "; " + CORRECTED),
        _col("action", "string", "", "The alert's action (contract 4.4)", CODED),
        _col("rate_mg_per_h", "number", "mg/h", "New infusion rate (rate_change)", CORRECTED),
        _col("rate_mg_per_kg_per_h", "number", "mg/kg/h", "New infusion rate per kg (rate_change)", CORRECTED),
        _col("drug", "string", "", "Medication given, from a fixed list of rescue and co-medications, else other "
             "(medication)", CODED + "; lot numbers and reasons are dropped"),
        _col("dose", "number", "dose_unit", "Dose of the medication", CORRECTED),
        _col("dose_unit", "string", "", "mg, mcg, g, mL or units", CODED),
        _col("route", "string", "", "Route of the medication", CODED),
        _col("with_vitals", "boolean", "", "A side effect reported within a set of vital signs", DERIVED),
        _col("amended", "boolean", "", "A later amendment corrected this event (the corrected values are shown)",
             DERIVED),
    ),
    "diary": (
        _RID,
        _col("day", "date", "", "The day the entry is about", SHIFTED),
        _col("pain_nrs", "integer", "NRS 0-10", "Average pain that day", PLAUSIBLE),
        _col("mood", "integer", "0-10", "Mood", PLAUSIBLE),
        _col("sleep", "integer", "0-10", "Sleep", PLAUSIBLE),
        _col("function", "integer", "0-10", "Function", PLAUSIBLE),
        _col("mme_per_day", "number", "mg MME/day", "Opioids that day in morphine milligram equivalents (CDC 2022)",
             DERIVED + "; the drug names are not exported"),
        _col("urinary_frequency", "boolean", "", "Urinary frequency reported"),
        _col("urinary_urgency", "boolean", "", "Urinary urgency reported"),
        _col("bladder_pain", "boolean", "", "Bladder pain reported"),
        _col("blood_in_urine", "boolean", "", "Blood in the urine reported"),
        _col("amended", "boolean", "", "The entry corrects an earlier one (which is not exported); one entry per day, "
             "the last, as the outcomes count it", DERIVED + "; the diary note (free text) is dropped"),
    ),
    "outcomes": (
        _RID,
        _col("status", "string", "", "assessable, follow_up_too_short, no_completed_session, no_signed_evaluation or "
             "no_baseline_pain", DERIVED),
        _col("baseline_nrs", "number", "NRS 0-10", "Pain before the course (the evaluation's NRS)"),
        _col("course_end_day", "date", "", "Last session of the initial course (sessions at most 14 days apart)",
             SHIFTED),
        _col("followup_nrs", "number", "NRS 0-10", "Mean diary pain over the 28 days after the course (at least 3 days)",
             DERIVED),
        _col("followup_entries", "integer", "days", "Diary days in that window", DERIVED),
        _col("reduction_pct", "number", "%", "Reduction from baseline", DERIVED),
        _col("reduction_points", "number", "NRS points", "Reduction from baseline", DERIVED),
        _col("responder_30", "boolean", "", "Reduction of at least 30 % (IMMPACT, immpact2008)", DERIVED),
        _col("responder_50", "boolean", "", "Reduction of at least 50 % (IMMPACT, immpact2008)", DERIVED),
        _col("two_point", "boolean", "", "Reduction of at least 2 points", DERIVED),
        _col("durability_days", "number", "days", "Days from the end of the course to loss of relief, or to censoring",
             DERIVED),
        _col("relief_lost", "boolean", "", "Relief was lost (false: censored at a booster or the last diary day)",
             DERIVED),
    ),
}

#: How each of the 18 Safe Harbor identifiers (164.514(b)(2)(i)(A)-(R)) is handled.
SAFE_HARBOR: tuple[tuple[str, str, str], ...] = (
    ("A", "Names", "Not read from the database, not exported; free text that could hold a name is dropped."),
    ("B", "Geographic subdivisions smaller than a state", "Not recorded by KetaClinic."),
    ("C", "Dates (except year) and ages over 89", "Birth date becomes the age band at the first session, 90 and over "
     "as '90+'; every other date is shifted by a secret per-patient offset of whole weeks, the same in every export "
     "(see the date rule); the export names only the month it was made in."),
    ("D", "Telephone numbers", "Not read, not exported."),
    ("E", "Fax numbers", "Not recorded."),
    ("F", "Electronic mail addresses", "Not read, not exported."),
    ("G", "Social security numbers", "Not recorded."),
    ("H", "Medical record numbers", "Internal ids replaced by a research id new in every export, and ordinals."),
    ("I", "Health plan beneficiary numbers", "Not recorded."),
    ("J", "Account numbers", "User accounts are not exported."),
    ("K", "Certificate/license numbers", "Not recorded; staff are not exported."),
    ("L", "Vehicle identifiers", "Not recorded."),
    ("M", "Device identifiers and serial numbers", "Drug lot numbers and device details are dropped."),
    ("N", "Web URLs", "Not exported."),
    ("O", "IP addresses", "The audit log is not exported."),
    ("P", "Biometric identifiers", "Not recorded."),
    ("Q", "Full-face photographs", "Not recorded."),
    ("R", "Any other unique identifying number, characteristic or code", "Research ids are keyed hashes under a "
     "discarded per-export secret (164.514(c)); date shifts come from a clinic key that is never disclosed; "
     "quasi-identifiers in small cells are suppressed, and patients left in a cell below k removed; weight in "
     "5-kg bands."),
)


def dictionary_rows() -> list[dict[str, str]]:
    """The data dictionary as rows: table, column, type, unit, description, deidentification."""
    return [{"table": table, "column": c.name, "type": c.type, "unit": c.unit, "description": c.description,
             "deidentification": c.deidentification} for table, columns in TABLES.items() for c in columns]


# --- plain input rows (what the service loads) --------------------------------------------


@dataclass(frozen=True)
class PatientRow:
    patient_id: int
    birth_date: date
    sex: str
    conditions: tuple[str, ...] = ()
    baseline_pain_nrs: float | None = None
    screening_decision: str | None = None


@dataclass(frozen=True)
class SessionRow:
    session_id: int
    patient_id: int
    scheduled_at: datetime
    state: str
    protocol_id: str | None = None
    weight_kg: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    discharged_at: datetime | None = None
    pump_program: dict[str, Any] | None = None


@dataclass(frozen=True)
class DiaryRow:
    entry_id: int
    patient_id: int
    recorded_at: datetime
    pain_nrs: int
    mood: int | None = None
    sleep: int | None = None
    function: int | None = None
    mme_per_day: float | None = None
    urinary_symptoms: dict[str, Any] = field(default_factory=dict)
    amends_id: int | None = None


@dataclass(frozen=True)
class OutcomeRow:
    patient_id: int
    status: str
    baseline_nrs: float | None = None
    course_end: date | None = None
    followup_nrs: float | None = None
    followup_entries: int = 0
    reduction_pct: float | None = None
    reduction_points: float | None = None
    responder_30: bool | None = None
    responder_50: bool | None = None
    two_point: bool | None = None
    durability_days: float | None = None
    relief_lost: bool | None = None


@dataclass(frozen=True)
class Cohort:
    patients: tuple[PatientRow, ...] = ()
    sessions: tuple[SessionRow, ...] = ()
    events: tuple[EventRow, ...] = ()
    diary: tuple[DiaryRow, ...] = ()
    outcomes: tuple[OutcomeRow, ...] = ()


def local_day(at: datetime, tz: tzinfo = UTC) -> date:
    """The clinic's day of an instant (a 17:30 session in Los Angeles is that day, not the next UTC one)."""
    return at.astimezone(tz).date()


def first_session_day(sessions: Iterable[SessionRow], tz: tzinfo = UTC) -> dict[int, date]:
    """Each patient's first started session (the day treatment began), real date, the clinic's day."""
    first: dict[int, date] = {}
    for s in sessions:
        if s.started_at is not None:
            day = local_day(s.started_at, tz)
            if s.patient_id not in first or day < first[s.patient_id]:
                first[s.patient_id] = day
    return first


def cutoff_day(as_of: datetime, tz: tzinfo = UTC) -> date:
    """The first day left out: rows on or after it are not exported (the last CUTOFF_DAYS days and today)."""
    return local_day(as_of, tz) - timedelta(days=CUTOFF_DAYS)


def cut_off(everyone: Cohort, *, as_of: datetime, tz: tzinfo = UTC) -> Cohort:
    """The rows an export may hold at ``as_of``: sessions discharged or cancelled before the cut-off
    day (with their events), diary entries before it. Outcomes are left to the caller, who computes
    them from what is kept (:func:`ketaclinic.services.research_export.outcomes_of`)."""
    cutoff = cutoff_day(as_of, tz)
    sessions = tuple(s for s in everyone.sessions if s.state in EXPORTED_SESSION_STATES
                     and local_day(s.started_at or s.scheduled_at, tz) < cutoff)
    kept = {s.session_id for s in sessions}
    return replace(everyone, sessions=sessions, events=tuple(e for e in everyone.events if e.session_id in kept),
                   diary=tuple(d for d in everyone.diary if diary_day(d) < cutoff))


def select_cohort(everyone: Cohort, *, condition: str | None = None, start: date | None = None,
                  end: date | None = None, tz: tzinfo = UTC) -> Cohort:
    """The treated patients (at least one session started) whose conditions include ``condition`` and
    whose first session falls between ``start`` and ``end`` (inclusive, the clinic's days), with their rows."""
    first = first_session_day(everyone.sessions, tz)
    keep = {p.patient_id for p in everyone.patients
            if p.patient_id in first
            and (condition is None or condition in p.conditions)
            and (start is None or first[p.patient_id] >= start)
            and (end is None or first[p.patient_id] <= end)}
    sessions = tuple(s for s in everyone.sessions if s.patient_id in keep)
    session_ids = {s.session_id for s in sessions}
    return Cohort(
        patients=tuple(p for p in everyone.patients if p.patient_id in keep),
        sessions=sessions,
        events=tuple(e for e in everyone.events if e.session_id in session_ids),
        diary=tuple(d for d in everyone.diary if d.patient_id in keep),
        outcomes=tuple(o for o in everyone.outcomes if o.patient_id in keep),
    )


# --- pseudonyms and shifts ----------------------------------------------------------------


def new_secret() -> bytes:
    """A fresh secret for one export's research ids (kept in memory for the export only)."""
    return secrets.token_bytes(SECRET_BYTES)


class Keys:
    """A patient's research id (under the per-export secret) and date shift (under the clinic's key).

    Holds both secrets; never serialised, and its repr shows neither.
    """

    __slots__ = ("_secret", "_shift_key")

    def __init__(self, secret: bytes, shift_key: bytes):
        if len(secret) < 16 or len(shift_key) < 16:
            raise ValueError("the export secret and the clinic's key must each be at least 16 random bytes")
        if hmac.compare_digest(secret, shift_key):
            raise ValueError("the export secret must not be the clinic's key (ids would follow the shifts)")
        self._secret, self._shift_key = secret, shift_key

    def __repr__(self) -> str:
        return "Keys(<secret>, <clinic key>)"

    @staticmethod
    def _mac(key: bytes, purpose: str, patient_id: int) -> bytes:
        return hmac.new(key, f"{purpose}:{patient_id}".encode(), hashlib.sha256).digest()

    def research_id(self, patient_id: int) -> str:
        return "R" + self._mac(self._secret, "id", patient_id).hex()[:16]

    def shift_weeks(self, patient_id: int) -> int:
        """A whole number of weeks in −26…−1 or +1…+26 (never 0), uniform up to a 2⁻⁶⁴ bias."""
        n = int.from_bytes(self._mac(self._shift_key, "shift", patient_id)[:8], "big") % (2 * SHIFT_MAX_WEEKS)
        return n - SHIFT_MAX_WEEKS if n < SHIFT_MAX_WEEKS else n - SHIFT_MAX_WEEKS + 1

    def shift_days(self, patient_id: int) -> int:
        """The shift in days: always a multiple of 7, so a weekday stays the same weekday."""
        return 7 * self.shift_weeks(patient_id)


# --- ages, weights and small cells ----------------------------------------------------------


def age_in_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def age_band(age: int) -> str:
    if age >= TOP_AGE:
        return f"{TOP_AGE}+"
    if age < 18:
        return "<18"
    if age < 30:
        return "18-29"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def weight_band(weight_kg: float) -> str:
    """5-kg bands, clamped: "<45", "45-49", ..., "145-149", "≥150"."""
    if weight_kg < WEIGHT_LOW_KG:
        return f"<{WEIGHT_LOW_KG}"
    if weight_kg >= WEIGHT_HIGH_KG:
        return f"≥{WEIGHT_HIGH_KG}"
    low = int(weight_kg // WEIGHT_BAND_KG * WEIGHT_BAND_KG)
    return f"{low}-{low + WEIGHT_BAND_KG - 1}"


def session_count_band(sessions: int) -> str:
    """How many sessions a patient has, as the cell counts it: 1, 2-3, 4-6 or 7+."""
    return next(label for top, label in SESSION_COUNT_BANDS if sessions <= top)


@dataclass(frozen=True)
class Suppression:
    """What small-cell suppression did: counted into the manifest."""

    k: int
    cells_below_k: int = 0
    patients_generalised: int = 0  # sex and age suppressed, conditions kept
    patients_fully_suppressed: int = 0  # conditions suppressed too (released: at least k share the session band)
    patients_removed: int = 0  # fully suppressed in a group of fewer than k: left out of every table
    values: dict[str, int] = field(default_factory=dict)  # "table.column" -> values emptied

    @property
    def total_values(self) -> int:
        return sum(self.values.values())

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "quasi_identifiers": list(QUASI_IDENTIFIERS),
                "session_count_bands": [label for _, label in SESSION_COUNT_BANDS],
                "cells_below_k": self.cells_below_k, "patients_generalised": self.patients_generalised,
                "patients_fully_suppressed": self.patients_fully_suppressed, "patients_removed": self.patients_removed,
                "values_suppressed": dict(sorted(self.values.items())), "total_values_suppressed": self.total_values,
                "policy": f"k = {self.k}" + (" (CMS cell size suppression policy: no cell of 1 to 10)"
                                             if self.k == DEFAULT_K else " (clinic policy)"),
                "source": CMS_CELL_POLICY_URL}


SUPPRESSIBLE = ("sex", "age_band", "condition", "conditions")


def released_cells(rows: Iterable[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """How many patients share each released combination of the quasi-identifiers."""
    return Counter(tuple(r[c] for c in QUASI_IDENTIFIERS) for r in rows)


def suppress_small_cells(rows: list[dict[str, Any]], k: int) -> Suppression:
    """Empty the quasi-identifiers of patients in cells of fewer than ``k`` (in place).

    ``rows`` carry every column of :data:`QUASI_IDENTIFIERS` (``session_count_band`` too, which
    cannot be emptied: the session rows show it). Step 1: a patient whose cell is smaller than
    ``k`` loses sex and age band. Step 2: among those, a (condition, conditions, session band)
    combination still shared by fewer than ``k`` loses the conditions too. Step 3: patients left
    in a released combination of fewer than ``k`` (only fully suppressed ones can be) are marked
    ``qi_suppressed = "removed"``: the caller leaves them out of every table.

    Afterwards every combination released (the rows not removed) is shared by at least ``k``
    patients: step 1 keeps only cells of ``k`` or more as they are; step 2 keeps conditions only
    for groups of ``k`` or more, all of which are released alike; step 3 removes the rest.
    """
    before = [tuple(r[c] for c in SUPPRESSIBLE) for r in rows]
    counts = released_cells(rows)
    small = [r for r in rows if counts[tuple(r[c] for c in QUASI_IDENTIFIERS)] < k]
    by_conditions = Counter((r["condition"], r["conditions"], r["session_count_band"]) for r in small)
    for r in small:
        r["sex"] = r["age_band"] = None
        if by_conditions[(r["condition"], r["conditions"], r["session_count_band"])] >= k:
            r["qi_suppressed"] = "age_sex"
        else:
            r["condition"] = r["conditions"] = None
            r["qi_suppressed"] = "all"
    released = released_cells(rows)
    for r in rows:
        if released[tuple(r[c] for c in QUASI_IDENTIFIERS)] < k:
            r["qi_suppressed"] = "removed"
    kept = [r for r in rows if r["qi_suppressed"] != "removed"]
    if any(n < k for n in released_cells(kept).values()):  # cannot happen (see above); never release it if it does
        raise RuntimeError("small-cell suppression left a released cell below k")
    emptied: Counter[str] = Counter()
    for r, was in zip(rows, before, strict=True):
        if r["qi_suppressed"] != "removed":
            emptied.update(f"patients.{c}" for c, value in zip(SUPPRESSIBLE, was, strict=True)
                           if value is not None and r[c] is None)
    return Suppression(k=k, cells_below_k=sum(1 for n in counts.values() if n < k),
                       patients_generalised=sum(r["qi_suppressed"] == "age_sex" for r in kept),
                       patients_fully_suppressed=sum(r["qi_suppressed"] == "all" for r in kept),
                       patients_removed=len(rows) - len(kept), values=dict(emptied))


# --- events: corrections, vocabularies ----------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _coded(value: Any, vocabulary: Iterable[str]) -> str | None:
    return value if isinstance(value, str) and value in vocabulary else None


def medication_name(text: Any) -> str:
    """The drug as one word of :data:`MEDICATIONS`, or "other": what a nurse types never leaves as typed."""
    if not isinstance(text, str):
        return "other"
    words = re.findall(r"[a-z]+", text.lower())
    return words[0] if words and words[0] in MEDICATIONS else "other"


def _observation_range(name: str) -> tuple[float, float]:
    """The range :class:`~ketaclinic.clinical.monitoring.Observation` accepts for ``name`` (its ge/le)."""
    low = high = None
    for rule in Observation.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    if low is None or high is None:  # pragma: no cover - every vital sign has both
        raise RuntimeError(f"Observation.{name} has no range")
    return float(low), float(high)


#: The plausible range of each exported number, as the event models accept it (vital signs as
#: ``Observation``; rates and doses above 0 and at most 5000 mg, as services.sessions checks a
#: corrected rate; per kg, for the lightest weight allowed; NRS and diary scores 0-10 as the diary
#: model; weight 30-250 kg as contract 4.3). Outside it a value is a slip and leaves blank.
RANGES: dict[str, tuple[float, float]] = {
    **{name: _observation_range(name) for name in VITAL_FIELDS},
    "minute": (0.0, float(MAX_SESSION_MIN)),
    "rate_mg_per_h": (0.0, MAX_DOSE_MG),
    "rate_mg_per_kg_per_h": (0.0, MAX_DOSE_MG / WEIGHT_RANGE_KG[0]),
    "dose": (0.0, MAX_DOSE_MG),  # in mg (mcg and g converted); mL and units taken as they are
    "planned_dose_mg": (0.0, MAX_DOSE_MG),
    "weight_kg": WEIGHT_RANGE_KG,
    "baseline_pain_nrs": (0.0, 10.0),
    "baseline_nrs": (0.0, 10.0),
    "followup_nrs": (0.0, 10.0),
    **{name: (0.0, 10.0) for name in ("pain_nrs", "mood", "sleep", "function")},
}
_ABOVE_ZERO = frozenset({"rate_mg_per_h", "rate_mg_per_kg_per_h", "dose", "planned_dose_mg", "weight_kg"})


def plausible(name: str, value: float, *, unit: str | None = None) -> bool:
    """Whether ``value`` lies in the range :data:`RANGES` gives ``name`` (a dose in its ``unit``)."""
    low, high = RANGES[name]
    if name == "dose":
        value = value * _MASS_MG.get(unit or "mg", 1.0)
    return (low < value if name in _ABOVE_ZERO else low <= value) and value <= high


def _blank_implausible(table: str, row: dict[str, Any], blanks: Counter[str]) -> None:
    """Empty (in place) every number of ``row`` outside its range, counting each as ``table.column``."""
    for name, value in row.items():
        if name in RANGES and value is not None and not plausible(name, value, unit=row.get("dose_unit")):
            row[name] = None
            blanks[f"{table}.{name}"] += 1


_VALIDATORS: dict[str, Any] = {
    **{name: _number for name in VITAL_FIELDS if name != "moaas"},
    "moaas": lambda v: (lambda i: i if i is not None and 0 <= i <= 5 else None)(_integer(v)),
    "rate_mg_per_h": _number,
    "rate_mg_per_kg_per_h": _number,
    "dose": _number,
    "dose_unit": lambda v: _coded(v, DOSE_UNITS),
    "route": lambda v: _coded(v, ROUTES),
    "drug": medication_name,
}


def _side_effect_fields(code: Any, severity: Any) -> dict[str, Any]:
    return {"code": _coded(code, SIDE_EFFECT_CODES), "severity": _coded(severity, SIDE_EFFECT_SEVERITIES)}


def _fields_of(event: EventRow) -> list[dict[str, Any]]:
    """The exportable fields of one event: one row, plus one per side effect within vital signs."""
    p = event.payload or {}
    if event.kind == "vitals":
        obs = p.get("observation") or {}
        rows = [{name: _VALIDATORS[name](obs.get(name)) for name in VITAL_FIELDS}]
        for effect in obs.get("side_effects") or []:
            if isinstance(effect, dict):
                rows.append({"kind": "side_effect", "with_vitals": True,
                             **_side_effect_fields(effect.get("code"), effect.get("severity"))})
        return rows
    if event.kind == "side_effect":
        return [_side_effect_fields(p.get("code"), p.get("severity"))]
    if event.kind == "alert":
        return [{"code": _coded(p.get("code"), ALERT_CODES), "severity": _coded(p.get("severity"), ALERT_SEVERITIES),
                 "action": _coded(p.get("action"), ALERT_ACTIONS)}]
    if event.kind == "alert_ack":
        return [{"code": _coded(p.get("alert_code"), ALERT_CODES)}]
    if event.kind == "rate_change":
        return [{"rate_mg_per_h": _number(p.get("rate_mg_per_h")),
                 "rate_mg_per_kg_per_h": _number(p.get("rate_mg_per_kg_per_h"))}]
    if event.kind == "medication":
        return [{"drug": medication_name(p.get("drug")), "dose": _number(p.get("dose")),
                 "dose_unit": _coded(p.get("unit"), DOSE_UNITS), "route": _coded(p.get("route"), ROUTES)}]
    return []


def _apply_correction(kind: str, rows: list[dict[str, Any]], correction: dict[str, Any], weight_kg: float | None) -> None:
    """Put an amendment's corrected values into the event's fields: a value that does not fit the
    column (a word where a number belongs, a code outside the vocabulary) empties it instead."""
    if not isinstance(correction, dict):
        return
    flat = dict(correction)
    if isinstance(correction.get("observation"), dict):  # a vitals correction may nest like the payload
        flat.update(correction["observation"])
    if "unit" in flat:
        flat["dose_unit"] = flat.pop("unit")
    main = rows[0]
    for name, value in flat.items():
        if kind == "side_effect" and name in ("code", "severity"):
            main[name] = _side_effect_fields(value, value)[name]
        elif name in _VALIDATORS and name in main:
            main[name] = _VALIDATORS[name](value)
    if kind == "rate_change" and weight_kg:
        per_h, per_kg = flat.get("rate_mg_per_h"), flat.get("rate_mg_per_kg_per_h")
        if per_kg is not None and per_h is None and main["rate_mg_per_kg_per_h"] is not None:
            main["rate_mg_per_h"] = round(main["rate_mg_per_kg_per_h"] * weight_kg, 2)
        elif per_h is not None and per_kg is None and main["rate_mg_per_h"] is not None:
            main["rate_mg_per_kg_per_h"] = round(main["rate_mg_per_h"] / weight_kg, 4)
    if kind == "vitals" and isinstance(flat.get("side_effects"), list):
        del rows[1:]
        for effect in flat["side_effects"]:
            if isinstance(effect, dict):
                rows.append({"kind": "side_effect", "with_vitals": True,
                             **_side_effect_fields(effect.get("code"), effect.get("severity"))})


@dataclass
class _Event:
    event: EventRow
    rows: list[dict[str, Any]]
    amended: bool = False
    minute: float | None = None  # the event's minute when plausible
    minute_blanked: bool = False


def corrected_events(events: Iterable[EventRow], weight_of: dict[int, float | None],
                     blanks: Counter[str] | None = None) -> list[_Event]:
    """The exportable events in recording order, with every amendment's correction applied in turn,
    and every implausible number blanked (counted into ``blanks``)."""
    blanks = Counter() if blanks is None else blanks
    ordered = sorted(events, key=lambda e: e.id)
    out: dict[int, _Event] = {}
    for event in ordered:
        if event.kind in EXPORTED_EVENT_KINDS:
            out[event.id] = _Event(event, _fields_of(event))
    for event in ordered:
        if event.kind == "amendment" and event.amends_event_id in out:
            target = out[event.amends_event_id]
            target.amended = True
            _apply_correction(target.event.kind, target.rows, (event.payload or {}).get("correction") or {},
                              weight_of.get(target.event.session_id))
    for item in out.values():
        minute = _number(item.event.minute)
        if minute is not None and not plausible("minute", minute):
            blanks["events.minute"] += 1
            minute, item.minute_blanked = None, True
        item.minute = minute
        for row in item.rows:
            _blank_implausible("events", row, blanks)
    return list(out.values())


# --- doses ----------------------------------------------------------------------------------


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def session_doses(pump_program: dict[str, Any] | None, *, weight_kg: float | None,
                  rate_changes: Sequence[tuple[float, float, bool]] = (),
                  extra_boluses: Sequence[tuple[float, float, str, bool]] = (),
                  stopped_at_min: float | None = None) -> list[dict[str, Any]]:
    """What a session gave, row by row: the program's steps as run, and extra ketamine.

    The same reading as :func:`ketaclinic.pharmacology.regimen.doses_as_given` (which draws the
    session's curve): a rate change ``(minute, rate_mg_per_h, amended)`` holds wherever the program
    has an infusion running until the next change; slow pushes and oral doses are given as
    programmed; nothing is given after the stop. Here each piece keeps its kind and source, and an
    infusion is split wherever its rate changed. ``extra_boluses`` are ``(minute, dose_mg, route,
    amended)`` from ketamine recorded as a medication.
    """
    program = pump_program or {}
    steps = list(program.get("program") or [])
    route = program.get("route") if program.get("route") in ROUTES else "iv"
    stop = math.inf if stopped_at_min is None else float(stopped_at_min)
    changes = sorted(rate_changes)
    planned, _ = doses_from_pump_program(steps) if steps else ([], 0.0)
    rows: list[dict[str, Any]] = []

    def per_kg(value: float | None) -> float | None:
        return None if value is None or not weight_kg else value / weight_kg

    def add(source: str, kind: str, how: str, start: float, minutes: float | None, mg: float, rate: float | None,
            amended: bool = False) -> None:
        rows.append({"source": source, "kind": kind, "route": how, "start_min": _r(start, 2),
                     "duration_min": _r(minutes, 2), "dose_mg": _r(mg, 2), "dose_mg_per_kg": _r(per_kg(mg), 2),
                     "rate_mg_per_h": _r(rate, 2), "rate_mg_per_kg_per_h": _r(per_kg(rate), 4), "amended": amended})

    for step, dose in zip(steps, planned, strict=True):
        if isinstance(dose, Bolus):  # an oral dose, taken at its time
            if dose.at_min < stop:
                add("program", "oral", "oral", dose.at_min, None, dose.dose_mg, None)
            continue
        start, end = dose.start_min, min(dose.end_min, stop)
        if start >= end:
            continue
        if step.get("kind") == "bolus":  # a slow push, as programmed (cut short only by the stop)
            add("program", "bolus", route, start, end - start, dose.rate_mg_per_h * (end - start) / 60, None)
            continue
        cuts = sorted({start, end} | {m for m, _, _ in changes if start < m < end})
        for a, b in pairwise(cuts):
            current = [c for c in changes if c[0] <= a]
            rate, source, amended = (current[-1][1], "rate_change", current[-1][2]) if current else \
                (dose.rate_mg_per_h, "program", False)
            last = rows[-1] if rows else None
            if last and last["kind"] == "infusion" and last["source"] == source and last["_rate"] == rate \
                    and last["_end"] == a:
                minutes = b - last["_start"]
                last.update(duration_min=_r(minutes, 2), dose_mg=_r(rate * minutes / 60, 2),
                            dose_mg_per_kg=_r(per_kg(rate * minutes / 60), 2), _end=b)
                continue
            add(source, "infusion", route, a, b - a, rate * (b - a) / 60, rate, amended)
            rows[-1].update(_rate=rate, _start=a, _end=b)
    for minute, mg, how, amended in extra_boluses:
        add("extra_bolus", "bolus", how, minute, None, mg, None, amended)
    for row in rows:
        for key in ("_rate", "_start", "_end"):
            row.pop(key, None)
    rows.sort(key=lambda r: (r["start_min"], 0 if r["source"] != "extra_bolus" else 1))
    return rows


_MASS_MG = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}


# --- the tables -----------------------------------------------------------------------------


@dataclass
class Dataset:
    tables: dict[str, list[dict[str, Any]]]
    suppression: Suppression
    blanked: dict[str, int] = field(default_factory=dict)  # "table.column" -> implausible values blanked

    def row_counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round(max(0.0, (b - a).total_seconds() / 60), 1)


def diary_day(entry: DiaryRow) -> date:
    """The day a diary entry is about: the diary stores it as midday UTC of that day
    (services.diary._day_start), so its UTC date is the day in every clinic zone."""
    return entry.recorded_at.astimezone(UTC).date()


def _checked(table: str, name: str, value: Any, blanks: Counter[str], *, integer: bool = False) -> Any:
    """``value`` as a number of its range, else None (an out-of-range number is counted as blanked)."""
    number = _integer(value) if integer else _number(value)
    if number is not None and not plausible(name, number):
        blanks[f"{table}.{name}"] += 1
        return None
    return number


def deidentify(cohort: Cohort, keys: Keys, *, k: int = DEFAULT_K, as_of: datetime, tz: tzinfo = UTC) -> Dataset:
    """The six tables of ``cohort`` with identifiers removed, dates shifted and small cells suppressed.

    ``as_of`` is the moment the data stands at (a session without a stop time has given its doses
    until then); ``tz`` is the clinic's time zone (dates are its days). Raises
    :class:`CohortEmpty` for no patient and :class:`CohortTooSmall` for 1 to k-1 patients, or when
    small-cell suppression would remove every patient.
    """
    if not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be between {MIN_K} and {MAX_K}")
    if not cohort.patients:
        raise CohortEmpty()
    if len(cohort.patients) < k:
        raise CohortTooSmall(k)
    first = first_session_day(cohort.sessions, tz)
    session_count = Counter(s.patient_id for s in cohort.sessions)

    patients: list[dict[str, Any]] = []
    for p in cohort.patients:
        age = age_in_years(p.birth_date, first[p.patient_id]) if p.patient_id in first else None
        conditions = sorted({c for c in p.conditions if c in CONDITIONS})
        primary = p.conditions[0] if p.conditions and p.conditions[0] in CONDITIONS else None
        patients.append({
            "_pid": p.patient_id,
            "age_band": age_band(age) if age is not None else None,
            "sex": p.sex if p.sex in SEXES else "unknown",
            "condition": primary,
            "conditions": ";".join(conditions) or None,
            "session_count_band": session_count_band(session_count[p.patient_id]),
            "baseline_pain_nrs": p.baseline_pain_nrs,
            "screening_decision": _coded(p.screening_decision, SCREENING_DECISIONS),
            "qi_suppressed": "none",
        })
    suppression = suppress_small_cells(patients, k)
    patients = [r for r in patients if r["qi_suppressed"] != "removed"]
    if not patients:
        raise CohortTooSmall(k)
    rid = {r["_pid"]: keys.research_id(r["_pid"]) for r in patients}
    if len(set(rid.values())) != len(rid):  # 64-bit ids: a collision is ~1e-12 for 10^4 patients, but never silent
        raise RuntimeError("research id collision: run the export again")
    shift = {pid: timedelta(days=keys.shift_days(pid)) for pid in rid}
    blanks: Counter[str] = Counter()
    for r in patients:
        pid = r.pop("_pid")
        r.pop("session_count_band")
        r["research_id"] = rid[pid]
        r["baseline_pain_nrs"] = _checked("patients", "baseline_pain_nrs", r["baseline_pain_nrs"], blanks)

    # sessions, numbered per patient in time order
    kept_sessions = [s for s in cohort.sessions if s.patient_id in rid]
    by_patient: dict[int, list[SessionRow]] = {}
    for s in sorted(kept_sessions, key=lambda s: (s.started_at or s.scheduled_at, s.session_id)):
        by_patient.setdefault(s.patient_id, []).append(s)
    number = {s.session_id: (pid, n) for pid, rows in by_patient.items() for n, s in enumerate(rows, start=1)}
    sessions_by_id = {s.session_id: s for s in kept_sessions}

    def dosing_weight(s: SessionRow) -> float | None:
        weight = _number(s.weight_kg) or _number((s.pump_program or {}).get("weight_kg"))
        return weight if weight is not None and plausible("weight_kg", weight) else None

    weight_of = {s.session_id: dosing_weight(s) for s in kept_sessions}

    events_by_session: dict[int, list[_Event]] = {}
    for item in corrected_events((e for e in cohort.events if e.session_id in sessions_by_id), weight_of, blanks):
        events_by_session.setdefault(item.event.session_id, []).append(item)

    sessions: list[dict[str, Any]] = []
    doses: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for session_id, (pid, n) in number.items():
        s = sessions_by_id[session_id]
        keyed = {"research_id": rid[pid], "session_no": n}
        happened = events_by_session.get(session_id, [])
        given: list[dict[str, Any]] = []
        if s.started_at is not None:
            timed = [item for item in happened if not item.minute_blanked]  # a slip in the minute: not placed
            changes = [(item.minute or 0.0, item.rows[0]["rate_mg_per_h"], item.amended) for item in timed
                       if item.event.kind == "rate_change" and item.rows[0]["rate_mg_per_h"] is not None]
            extra = []
            for item in timed:
                row = item.rows[0]
                if item.event.kind == "medication" and row["drug"] == "ketamine" and row["dose_unit"] in _MASS_MG \
                        and row["dose"] is not None:
                    extra.append((item.minute or 0.0, row["dose"] * _MASS_MG[row["dose_unit"]],
                                  row["route"] or "iv", item.amended))
            stop = _minutes(s.started_at, s.ended_at or as_of)
            given = session_doses(s.pump_program, weight_kg=weight_of[session_id], rate_changes=changes,
                                  extra_boluses=extra, stopped_at_min=stop)
        doses += [{**keyed, "dose_no": i, **row} for i, row in enumerate(given, start=1)]
        program = s.pump_program or {}
        weight = _number(s.weight_kg)
        if weight is not None and not plausible("weight_kg", weight):
            blanks["sessions.weight_band"] += 1
            weight = None
        sessions.append({
            **keyed,
            "day": local_day(s.started_at or s.scheduled_at, tz) + shift[pid],
            "protocol_id": _coded(program.get("protocol") or s.protocol_id, PROTOCOL_IDS),
            "route": _coded(program.get("route"), ROUTES),
            "state": _coded(s.state, SESSION_STATES),
            "weight_band": weight_band(weight) if weight is not None else None,
            "infusion_min": _minutes(s.started_at, s.ended_at),
            "observation_min": _minutes(s.ended_at, s.discharged_at),
            "planned_dose_mg": _checked("sessions", "planned_dose_mg", program.get("total_dose_mg"), blanks),
            "given_dose_mg": round(sum(r["dose_mg"] or 0.0 for r in given), 2) if s.started_at is not None else None,
        })
        event_no = 0
        for item in happened:
            for fields in item.rows:
                event_no += 1
                events.append({**_blank_event(), **keyed, "event_no": event_no, "minute": _r(item.minute, 2),
                               "kind": item.event.kind, "with_vitals": False, **fields, "amended": item.amended})

    diary: list[dict[str, Any]] = []
    for d in _effective_diary(e for e in cohort.diary if e.patient_id in rid):
        u = d.urinary_symptoms or {}
        diary.append({
            "research_id": rid[d.patient_id], "day": diary_day(d) + shift[d.patient_id],
            **{name: _checked("diary", name, getattr(d, name), blanks, integer=True)
               for name in ("pain_nrs", "mood", "sleep", "function")},
            "mme_per_day": _number(d.mme_per_day),
            **{name: u.get(name) is True for name in ("bladder_pain", "blood_in_urine")},
            "urinary_frequency": u.get("frequency") is True, "urinary_urgency": u.get("urgency") is True,
            "amended": d.amends_id is not None,
        })

    outcomes = []
    for o in cohort.outcomes:
        if o.patient_id not in rid:
            continue
        baseline = _checked("outcomes", "baseline_nrs", o.baseline_nrs, blanks)
        followup = _checked("outcomes", "followup_nrs", o.followup_nrs, blanks)
        sound = (baseline is not None or o.baseline_nrs is None) and (followup is not None or o.followup_nrs is None)
        outcomes.append({  # a reduction computed from an implausible score is blanked with it
            "research_id": rid[o.patient_id], "status": _coded(o.status, OUTCOME_STATUSES),
            "baseline_nrs": baseline,
            "course_end_day": o.course_end + shift[o.patient_id] if o.course_end is not None else None,
            "followup_nrs": followup, "followup_entries": _integer(o.followup_entries),
            "reduction_pct": _number(o.reduction_pct) if sound else None,
            "reduction_points": _number(o.reduction_points) if sound else None,
            "responder_30": o.responder_30 if sound else None, "responder_50": o.responder_50 if sound else None,
            "two_point": o.two_point if sound else None,
            "durability_days": _number(o.durability_days), "relief_lost": o.relief_lost,
        })

    tables = {
        "patients": sorted(patients, key=lambda r: r["research_id"]),
        "sessions": sorted(sessions, key=lambda r: (r["research_id"], r["session_no"])),
        "doses": sorted(doses, key=lambda r: (r["research_id"], r["session_no"], r["dose_no"])),
        "events": sorted(events, key=lambda r: (r["research_id"], r["session_no"], r["event_no"])),
        "diary": sorted(diary, key=lambda r: (r["research_id"], r["day"])),
        "outcomes": sorted(outcomes, key=lambda r: r["research_id"]),
    }
    for name, rows in tables.items():
        tables[name] = [_typed_row(name, row) for row in rows]
    return Dataset(tables, suppression, dict(sorted((key, n) for key, n in blanks.items() if n)))


def _blank_event() -> dict[str, Any]:
    return {c.name: None for c in TABLES["events"]}


def _effective_diary(entries: Iterable[DiaryRow]) -> list[DiaryRow]:
    """As the outcomes count it: amended entries replaced by their correction, the last entry of a day kept."""
    entries = list(entries)
    replaced = {e.amends_id for e in entries if e.amends_id is not None}
    by_day: dict[tuple[int, date], DiaryRow] = {}
    for e in sorted(entries, key=lambda e: (e.recorded_at, e.entry_id)):
        if e.entry_id not in replaced:
            by_day[(e.patient_id, diary_day(e))] = e
    return list(by_day.values())


def _typed(value: Any, type_: ColumnType, where: str) -> Any:
    """The value as its column's type; anything else is a bug, and stops the export."""
    if value is None:
        return None
    ok = {"string": lambda v: isinstance(v, str),
          "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
          "boolean": lambda v: isinstance(v, bool),
          "date": lambda v: isinstance(v, date) and not isinstance(v, datetime)}[type_](value)
    if not ok:
        raise TypeError(f"{where}: {type(value).__name__} is not a {type_}")
    return float(value) if type_ == "number" else value


def _typed_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    names = [c.name for c in TABLES[table]]
    if set(row) != set(names):
        raise KeyError(f"{table}: columns {sorted(set(row) ^ set(names))} differ from the data dictionary")
    return {c.name: _typed(row[c.name], c.type, f"{table}.{c.name}") for c in TABLES[table]}


# --- files ------------------------------------------------------------------------------------


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def to_csv(table: str, rows: list[dict[str, Any]]) -> bytes:
    names = [c.name for c in TABLES[table]]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_value(row[n]) for n in names])
    return buffer.getvalue().encode("utf-8")


def arrow_schema(table: str) -> Any:
    """The table's Parquet schema: explicit types, with unit and description in each field's metadata."""
    import pyarrow as pa

    types = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
             "date": pa.date32()}
    return pa.schema([pa.field(c.name, types[c.type], nullable=True,
                               metadata={"unit": c.unit, "description": c.description,
                                         "deidentification": c.deidentification})
                      for c in TABLES[table]], metadata={"table": table})


def to_parquet(table: str, rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    data = pa.Table.from_pydict({c.name: [row[c.name] for row in rows] for c in TABLES[table]}, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(data, buffer, compression="zstd")
    return buffer.getvalue()


def dictionary_csv() -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=["table", "column", "type", "unit", "description", "deidentification"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(dictionary_rows())
    return buffer.getvalue().encode("utf-8")


def readme(manifest: dict[str, Any]) -> str:
    """The export's README.md, from the same definitions as the files (so it cannot drift)."""
    s = manifest["suppression"]
    lines = [
        "# KetaClinic research export (de-identified)", "",
        f"Generated in {manifest['generated_month']} by KetaClinic {manifest['ketaclinic_version']}; data up to "
        f"{manifest['data_up_to']}. {USE_CAVEAT}", "",
        "## What is in it", "",
        *[f"- `{t['file']}`: {t['rows']} rows" for t in manifest["tables"].values()],
        "- `data_dictionary.csv`: every column of every table (type, unit, description, how it was de-identified)",
        "- `manifest.json`: row counts, parameters, suppression counts", "",
        "## How it was de-identified", "",
        f"Following HIPAA Safe Harbor, {SAFE_HARBOR_RULE} ({SAFE_HARBOR_URL}):", "",
        "| | identifier | here |", "|---|---|---|",
        *[f"| {letter} | {name} | {how} |" for letter, name, how in SAFE_HARBOR], "",
        f"**Dates.** {DATE_RULE}", "",
        f"**Data cut-off.** {CUTOFF_RULE} Data up to {manifest['data_up_to']}.", "",
        f"**Research ids.** {PSEUDONYM[0].upper() + PSEUDONYM[1:]}.", "",
        "**Small cells.** Sex x age band x condition (the primary one and the whole list) x number of sessions "
        "(1, 2-3, 4-6, 7+) are quasi-identifiers. A patient whose combination is shared by fewer than "
        f"k = {s['k']} patients loses sex and age band; if the conditions with the session band are still that rare, "
        "they go too; patients then left alone with their session band in a group of fewer than k are removed "
        f"({s['policy']}; {CMS_CELL_POLICY_URL}). Every released combination is shared by at least k patients. In "
        f"this export {s['patients_generalised']} patient(s) lost sex and age band, {s['patients_fully_suppressed']} "
        f"lost every quasi-identifier, {s['patients_removed']} were removed from every table, "
        f"{s['total_values_suppressed']} value(s) were suppressed in all. The column qi_suppressed says which. "
        "Weight is given in 5-kg bands, clamped at <45 and ≥150; dose per kg to 0.01 mg/kg.", "",
        f"**Implausible values.** Numbers outside the ranges the clinic's records accept (vital signs, doses up to "
        f"{MAX_DOSE_MG:g} mg, weight, scores) are left empty: {sum(manifest['implausible_values_blanked'].values())} "
        "in this export (counted per column in manifest.json).", "",
        "**Free text** (notes, reasons, comments, diary notes) and drug lot numbers are never exported.", "",
        "## Caveats", "", *[f"- {c}" for c in manifest["caveats"]], "",
        "## Columns", "",
    ]
    for table, columns in TABLES.items():
        lines += [f"### {table}", "", "| column | type | unit | description |", "|---|---|---|---|"]
        lines += [f"| {c.name} | {c.type} | {c.unit} | {c.description} |" for c in columns]
        lines.append("")
    return "\n".join(lines)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def manifest_for(dataset: Dataset, *, fmt: str, generated_at: datetime, version: str,
                 cohort_filter: dict[str, Any], data_up_to: date, tz: tzinfo = UTC) -> dict[str, Any]:
    """The manifest. Only the months: the day of the export (or of the cut-off) would bound every shift."""
    ext = "csv" if fmt == "csv" else "parquet"
    return {
        "generated_month": month_of(local_day(generated_at, tz)),
        "data_up_to": month_of(data_up_to),
        "data_cutoff_days": CUTOFF_DAYS,
        "data_cutoff": CUTOFF_RULE,
        "ketaclinic_version": version,
        "format": fmt,
        "k": dataset.suppression.k,
        "cohort": cohort_filter,
        "patients": len(dataset.tables["patients"]),
        "tables": {name: {"file": f"{name}.{ext}", "rows": len(rows), "columns": len(TABLES[name])}
                   for name, rows in dataset.tables.items()},
        "suppression": dataset.suppression.as_dict(),
        "implausible_values_blanked": dict(dataset.blanked),
        "date_rule": DATE_RULE,
        "deidentification": f"HIPAA Safe Harbor {SAFE_HARBOR_RULE} identifiers removed (see README.md); research ids "
                            "are keyed hashes under a per-export secret that was discarded; date shifts come from a "
                            "clinic key that never leaves the clinic, the same in every export.",
        "use": USE_CAVEAT,
        "caveats": list(CAVEATS),
    }


def package(dataset: Dataset, manifest: dict[str, Any]) -> bytes:
    """One ZIP: the tables, data_dictionary.csv, README.md and manifest.json (entries dated 1980-01-01)."""
    writer = to_csv if manifest["format"] == "csv" else to_parquet
    files: list[tuple[str, bytes]] = [(manifest["tables"][name]["file"], writer(name, rows))
                                      for name, rows in dataset.tables.items()]
    files.append(("data_dictionary.csv", dictionary_csv()))
    files.append(("README.md", readme(manifest).encode("utf-8")))
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files}
    files.append(("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def build_export(cohort: Cohort, *, secret: bytes, shift_key: bytes, k: int = DEFAULT_K, fmt: str = "csv",
                 as_of: datetime, generated_at: datetime, version: str, cohort_filter: dict[str, Any] | None = None,
                 tz: tzinfo = UTC) -> tuple[bytes, dict[str, Any]]:
    """The ZIP and its manifest.

    ``secret`` (the research ids) is used here and nowhere else: drop it when this returns;
    ``shift_key`` is the clinic's kept key (the date shifts). The data cut-off at ``as_of``
    (:func:`cut_off`) is applied here too, so no caller can forget it; outcomes should already be
    computed from the cut rows (the service does).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    cohort = select_cohort(cut_off(cohort, as_of=as_of, tz=tz), tz=tz)
    dataset = deidentify(cohort, Keys(secret, shift_key), k=k, as_of=as_of, tz=tz)
    manifest = manifest_for(dataset, fmt=fmt, generated_at=generated_at, version=version,
                            cohort_filter=cohort_filter or {}, data_up_to=cutoff_day(as_of, tz) - timedelta(days=1),
                            tz=tz)
    return package(dataset, manifest), manifest
