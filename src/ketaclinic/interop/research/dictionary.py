"""The data dictionary: the one definition of every exported column (name, type, unit, description,
how it was de-identified), the Safe Harbor table, and rows checked against it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from ketaclinic.interop.research.rules import SHIFT_MAX_WEEKS

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
    "questionnaires": (
        _RID,
        _col("day", "date", "", "The day the questionnaire was completed", SHIFTED),
        _col("instrument", "string", "", "phq9, gad7 or pgic (licensed custom instruments are not exported)", CODED),
        _col("context", "string", "", "baseline, pre_course, end_of_course, monthly or ad_hoc", CODED),
        _col("total", "integer", "points", "PHQ-9 0-27, GAD-7 0-21; PGIC 1 very much improved ... 7 very much worse"),
        _col("severity", "string", "", "The instrument's band (PGIC: its category)", CODED),
        _col("prorated", "boolean", "", "Unanswered items scored as the mean of the answered ones"),
        _col("self_harm_item", "boolean", "", "PHQ-9 item 9 answered above 0", DERIVED),
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


def typed_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    names = [c.name for c in TABLES[table]]
    if set(row) != set(names):
        raise KeyError(f"{table}: columns {sorted(set(row) ^ set(names))} differ from the data dictionary")
    return {c.name: _typed(row[c.name], c.type, f"{table}.{c.name}") for c in TABLES[table]}
