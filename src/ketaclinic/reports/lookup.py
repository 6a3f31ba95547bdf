"""What every clinical document needs to say who and what: which patient (the identity block), which
source (a short citation in the text, the full one in the list at the end), and the clinic's local
time (records are stored in UTC; a printed record reads in the clinic's zone). Pure: the names of
staff come in the snapshot (:mod:`ketaclinic.services.documents`)."""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from typing import Any

from ketaclinic.evidence.sources import CLINIC_POLICY, UnknownSourceError, get_source

#: Sources written by a body, not a person: the name a physician knows them by.
SHORT_NAMES = {"icd10cm": "ICD-10-CM FY2026", "snomedct": "SNOMED CT", "spravato_pi": "Spravato label 2023",
               "spravato_label_bp": "Spravato label 2019", "asa2023_ketamine_statement": "ASA statement 2023",
               "asa_fasting2017": "ASA fasting guideline 2017", "pa_lowdose_ketamine2020": "Pennsylvania guideline 2020",
               "ismp_smart_pumps2019": "ISMP 2019", "cdc2022_opioids": "CDC 2022 (Dowell)"}
_PERSON = re.compile(r"^([A-ZÀ-Þ][\w'’\-]+(?: [a-z]+ [A-Z][\w\-]+)?) [A-Z]{1,4}\b")


def local(value: datetime | None, tz: tzinfo) -> datetime | None:
    return None if value is None else value.astimezone(tz)


def age_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def identity(patient: Any, today: date) -> dict[str, Any]:
    """Name, date of birth (and age), sex and clinic number: how a letter identifies the patient."""
    return {"name": f"{patient.given_name} {patient.family_name}", "given_name": patient.given_name,
            "family_name": patient.family_name, "birth_date": patient.birth_date,
            "age_years": age_years(patient.birth_date, today), "sex": patient.sex, "clinic_id": patient.id,
            "referrer": patient.referring_physician, "referrer_contact": patient.referring_physician_contact}


def short_cite(source_id: str | None) -> str:
    """``Cohen 2018`` for a paper, the body's name for a guideline or label, ``clinic policy`` for ours."""
    if not source_id:
        return ""
    if source_id == CLINIC_POLICY:
        return "clinic policy"
    if source_id in SHORT_NAMES:
        return SHORT_NAMES[source_id]
    try:
        source = get_source(source_id)
    except UnknownSourceError:
        return source_id
    authors = source.authors.split("(")[0].strip()
    match = _PERSON.match(authors)
    if match:
        who = match.group(1) + (" et al." if "," in authors else "")
    else:
        who = " ".join(authors.split(",")[0].split()[:4])
    return f"{who} {source.year}" if source.year else who


class Citations:
    """The sources a document cites, numbered in order of first use, for the list at its end."""

    def __init__(self) -> None:
        self._order: list[str] = []

    def __call__(self, source_id: str | None) -> str:
        """The short citation, remembering the source for the list."""
        if not source_id:
            return ""
        if source_id != CLINIC_POLICY and source_id not in self._order:
            self._order.append(source_id)
        return short_cite(source_id)

    def listing(self) -> list[dict[str, str]]:
        """Each source cited: its short name, the full citation, and a one-line form (where it was published)."""
        out = []
        for source_id in self._order:
            try:
                source = get_source(source_id)
            except UnknownSourceError:
                continue
            where = source.journal + (f", doi:{source.doi}" if source.doi else f", {source.url}" if source.url else "")
            out.append({"id": source_id, "short": short_cite(source_id), "full": source.citation(), "where": where})
        return out

