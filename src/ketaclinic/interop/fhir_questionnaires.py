"""FHIR R4 for the validated questionnaires (issue 15): ``Questionnaire`` per instrument, ``QuestionnaireResponse``
per completed response and an ``Observation`` for its total. Pure: rows in, resources added to the bundle builder.

The LOINC codes, and how each was checked (7 Dec 2026, ``search`` over published FHIR implementation guides):

| code | display | checked |
|---|---|---|
| 44249-1 | PHQ-9 quick depression assessment panel [Reported.PHQ] | US Core Observation-PHQ9-panel-example-44249-1 |
| 44261-6 | Patient Health Questionnaire 9 item (PHQ-9) total score [Reported] | the PHQ-9 total in US Core / MII examples (display as LOINC's long name) |
| 69737-5 | Generalized anxiety disorder 7 item (GAD-7) | HL7 PCO IG Questionnaire-69737-5; LOINC panel listing |
| 70274-6 | Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ] | MII PRO ObservationDefinition GAD-7 |
| LA6568-5 / LA6569-3 / LA6570-1 / LA6571-9 | Not at all / Several days / More than half the days / Nearly every day | MII value set LL358-3 (PHQ-9 answer list); PACIO GAD-7 examples |

Item-level LOINC codes and a PGIC code were not all confirmed, so items carry their text and the PGIC total is a
text-coded Observation (no unconfirmed code is written). Custom (licensed) instruments go out text-coded too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ketaclinic.clinical import questionnaires as core
from ketaclinic.interop.fhir_codes import LOINC, SURVEY, Code
from ketaclinic.interop.fhir_ids import NAMESPACE

PANELS = {
    "phq9": Code(LOINC, "44249-1", "PHQ-9 quick depression assessment panel [Reported.PHQ]"),
    "gad7": Code(LOINC, "69737-5", "Generalized anxiety disorder 7 item (GAD-7)"),
}
TOTALS = {
    "phq9": Code(LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "gad7": Code(LOINC, "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
}
ANSWERS = {o.loinc: Code(LOINC, o.loinc, o.label) for o in core.FREQUENCY if o.loinc}
#: Every coding this module writes (the export's code table adds them).
QUESTIONNAIRE_CODES: tuple[Code, ...] = (*PANELS.values(), *TOTALS.values(), *ANSWERS.values())
VERSION = "1"


@dataclass(frozen=True)
class QuestionnaireRow:
    id: int
    instrument: str
    answers: Sequence[int | None]
    total: int | None
    severity: str | None
    flags: Sequence[dict[str, Any]]
    prorated: bool
    completed_at: datetime
    recorded_by: int | None
    definition: dict[str, Any] | None = None  # a custom instrument's definition


def canonical(instrument_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'ketaclinic:questionnaire:{instrument_id}')}"


def _instrument(row: QuestionnaireRow) -> core.Instrument:
    if row.definition is not None:
        return core.custom_instrument(row.definition)
    return core.INSTRUMENTS[row.instrument]


def _option(option: core.Option) -> dict[str, Any]:
    if option.loinc:
        return {"valueCoding": ANSWERS[option.loinc].coding()}
    return {"valueString": option.label}


def _questionnaire(b: Any, instrument: core.Instrument) -> None:
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire", "url": canonical(instrument.id), "version": VERSION, "status": "active",
        "title": instrument.name, "subjectType": ["Patient"], "copyright": instrument.licence,
        "item": [{"linkId": item.id, "text": item.text, "type": "choice", "required": item.scored,
                  "answerOption": [_option(o) for o in item.options]} for item in instrument.items],
    }
    if instrument.id in PANELS:
        resource["code"] = [PANELS[instrument.id].coding()]
    if instrument.preamble:
        resource["description"] = instrument.preamble
    b.add("questionnaire", instrument.id, resource)


def add_questionnaires(b: Any, rows: Sequence[QuestionnaireRow]) -> None:
    """Add each instrument's Questionnaire once, then every completed response and its total."""
    seen: set[str] = set()
    for row in rows:
        instrument = _instrument(row)
        if instrument.id not in seen:
            seen.add(instrument.id)
            _questionnaire(b, instrument)
        items = []
        for item, value in zip(instrument.items, row.answers, strict=False):
            option = next((o for o in item.options if o.value == value), None)
            if option is not None:
                items.append({"linkId": item.id, "text": item.text, "answer": [_option(option)]})
        response: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse", "questionnaire": f"{canonical(instrument.id)}|{VERSION}",
            "status": "completed", "subject": b.patient_ref, "authored": row.completed_at.isoformat(), "item": items}
        author = b.practitioner(row.recorded_by)
        if author is not None:
            response["author"] = author
        url = b.add("questionnaire-response", f"prom:{row.id}", response)
        if row.total is None:
            continue
        note = [f"Severity: {row.severity.replace('_', ' ')}" if row.severity else None,
                "prorated: unanswered items scored as the mean of the answered ones" if row.prorated else None,
                *(f.get("message") for f in row.flags)]
        observation: dict[str, Any] = {
            "resourceType": "Observation", "status": "final", "category": [SURVEY.concept()],
            "code": ({"coding": [TOTALS[instrument.id].coding()], "text": TOTALS[instrument.id].display}
                     if instrument.id in TOTALS else {"text": f"{instrument.name} score"}),
            "subject": b.patient_ref, "effectiveDateTime": row.completed_at.isoformat(), "valueInteger": row.total,
            "derivedFrom": [{"reference": url}],
        }
        if any(note):
            observation["note"] = [{"text": "; ".join(n for n in note if n)}]
        b.add("observation", f"prom-total:{row.id}", observation)
