"""The export's rules: the date shift, the cut-off, k, the bands and ranges' limits, the fixed
vocabularies, the caveats every export carries, and the two refusals."""

from __future__ import annotations

import math
from typing import get_args

from ketaclinic.clinical.conditions import ConditionId
from ketaclinic.clinical.monitoring import (
    DEFAULT_ALERT_RULES,
    Action,
    Severity,
)
from ketaclinic.clinical.protocols import PROTOCOLS

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
