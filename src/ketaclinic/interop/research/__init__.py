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

The package, by job: :mod:`.rules` (the policy numbers, vocabularies and caveats),
:mod:`.dictionary` (every column), :mod:`.cohort` (the input rows, the cohort filter and the
data cut-off), :mod:`.keys` (research ids and date shifts), :mod:`.cells` (bands and small-cell
suppression), :mod:`.values` (plausible ranges and vocabularies of single values), :mod:`.events`
and :mod:`.doses` (a session's events and doses as rows), :mod:`.tables` (the six de-identified
tables) and :mod:`.formats` (CSV, Parquet, README, manifest, ZIP). Every public name is
re-exported here, so ``from ketaclinic.interop import research`` and ``research.X`` work.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from ketaclinic.interop.research.cells import (
    SUPPRESSIBLE,
    Suppression,
    age_band,
    age_in_years,
    released_cells,
    session_count_band,
    suppress_small_cells,
    weight_band,
)
from ketaclinic.interop.research.cohort import (
    Cohort,
    DiaryRow,
    OutcomeRow,
    PatientRow,
    PromRow,
    SessionRow,
    cut_off,
    cutoff_day,
    diary_day,
    first_session_day,
    local_day,
    select_cohort,
)
from ketaclinic.interop.research.dictionary import (
    CODED,
    CORRECTED,
    DERIVED,
    ORDINAL,
    PLAUSIBLE,
    PSEUDONYM,
    QI,
    RECORDED,
    SAFE_HARBOR,
    SHIFTED,
    TABLES,
    Column,
    ColumnType,
    dictionary_rows,
)
from ketaclinic.interop.research.doses import (
    session_doses,
)
from ketaclinic.interop.research.events import (
    corrected_events,
)
from ketaclinic.interop.research.formats import (
    arrow_schema,
    dictionary_csv,
    manifest_for,
    month_of,
    package,
    readme,
    to_csv,
    to_parquet,
)
from ketaclinic.interop.research.keys import (
    Keys,
    new_secret,
)
from ketaclinic.interop.research.rules import (
    ALERT_ACTIONS,
    ALERT_CODES,
    ALERT_SEVERITIES,
    CAVEATS,
    CMS_CELL_POLICY_URL,
    CONDITIONS,
    CUTOFF_DAYS,
    CUTOFF_RULE,
    DATE_RULE,
    DEFAULT_K,
    DOSE_UNITS,
    EXPORTED_EVENT_KINDS,
    EXPORTED_SESSION_STATES,
    FORMATS,
    MAX_DOSE_MG,
    MAX_K,
    MEDICATIONS,
    MIN_K,
    OUTCOME_STATUSES,
    PROTOCOL_IDS,
    QUASI_IDENTIFIERS,
    ROUTES,
    SAFE_HARBOR_RULE,
    SAFE_HARBOR_URL,
    SCREENING_DECISIONS,
    SECRET_BYTES,
    SESSION_COUNT_BANDS,
    SESSION_STATES,
    SEXES,
    SHIFT_MAX_DAYS,
    SHIFT_MAX_WEEKS,
    TOP_AGE,
    USE_CAVEAT,
    VITAL_FIELDS,
    WEIGHT_BAND_KG,
    WEIGHT_HIGH_KG,
    WEIGHT_LOW_KG,
    WEIGHT_RANGE_KG,
    CohortEmpty,
    CohortTooSmall,
)
from ketaclinic.interop.research.tables import (
    Dataset,
    deidentify,
    effective_diary,
)
from ketaclinic.interop.research.values import (
    RANGES,
    medication_name,
    plausible,
)

__all__ = [
    "ALERT_ACTIONS",
    "ALERT_CODES",
    "ALERT_SEVERITIES",
    "CAVEATS",
    "CMS_CELL_POLICY_URL",
    "CODED",
    "CONDITIONS",
    "CORRECTED",
    "CUTOFF_DAYS",
    "CUTOFF_RULE",
    "Cohort",
    "CohortEmpty",
    "CohortTooSmall",
    "Column",
    "ColumnType",
    "DATE_RULE",
    "DEFAULT_K",
    "DERIVED",
    "DOSE_UNITS",
    "Dataset",
    "DiaryRow",
    "PromRow",
    "EXPORTED_EVENT_KINDS",
    "EXPORTED_SESSION_STATES",
    "FORMATS",
    "Keys",
    "MAX_DOSE_MG",
    "MAX_K",
    "MEDICATIONS",
    "MIN_K",
    "ORDINAL",
    "OUTCOME_STATUSES",
    "OutcomeRow",
    "PLAUSIBLE",
    "PROTOCOL_IDS",
    "PSEUDONYM",
    "PatientRow",
    "QI",
    "QUASI_IDENTIFIERS",
    "RANGES",
    "RECORDED",
    "ROUTES",
    "SAFE_HARBOR",
    "SAFE_HARBOR_RULE",
    "SAFE_HARBOR_URL",
    "SCREENING_DECISIONS",
    "SECRET_BYTES",
    "SESSION_COUNT_BANDS",
    "SESSION_STATES",
    "SEXES",
    "SHIFTED",
    "SHIFT_MAX_DAYS",
    "SHIFT_MAX_WEEKS",
    "SUPPRESSIBLE",
    "SessionRow",
    "Suppression",
    "TABLES",
    "TOP_AGE",
    "USE_CAVEAT",
    "VITAL_FIELDS",
    "WEIGHT_BAND_KG",
    "WEIGHT_HIGH_KG",
    "WEIGHT_LOW_KG",
    "WEIGHT_RANGE_KG",
    "age_band",
    "age_in_years",
    "arrow_schema",
    "build_export",
    "corrected_events",
    "cut_off",
    "cutoff_day",
    "deidentify",
    "effective_diary",
    "diary_day",
    "dictionary_csv",
    "dictionary_rows",
    "first_session_day",
    "local_day",
    "manifest_for",
    "medication_name",
    "month_of",
    "new_secret",
    "package",
    "plausible",
    "readme",
    "released_cells",
    "select_cohort",
    "session_count_band",
    "session_doses",
    "suppress_small_cells",
    "to_csv",
    "to_parquet",
    "weight_band",
]


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
