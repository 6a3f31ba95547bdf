"""CRPS type, limb and side on the evaluation (issue 18: ask where it matters): the exact ICD-10-CM code
reaches the letter and the FHIR Condition; an unstated type writes no ICD-10-CM code (none means that)."""

from __future__ import annotations

import pytest

from ketaclinic.clinical.conditions import CrpsDetail, crps_icd10cm, icd10cm_for, snomed_for
from ketaclinic.clinical.screening import ScreeningRequest
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.reports.letters import _diagnosis
from tests.web.conftest import csrf_of
from tests.web.test_evaluation_weight import FORM


@pytest.mark.parametrize(("detail", "code"), [
    (("I", "upper", "left"), "G90.512"), (("I", "lower", "bilateral"), "G90.523"), (("I", "upper", "not_stated"), "G90.519"),
    (("I", "other", "right"), "G90.59"), (("I", "not_stated", "not_stated"), "G90.50"),
    (("II", "upper", "right"), "G56.41"), (("II", "lower", "not_stated"), "G57.70"), (("II", "other", "left"), None),
    (("not_stated", "upper", "left"), None),
])
def test_each_documented_crps_has_the_code_that_means_exactly_that(detail, code):
    coding = crps_icd10cm(CrpsDetail(*detail))
    assert (coding.code if coding else None) == code


def test_type_two_gets_its_snomed_concept_and_other_conditions_keep_theirs():
    assert [c.code for c in snomed_for("crps", {"crps": {"type": "II"}})] == ["408751001"]
    assert [c.code for c in snomed_for("crps", {})] == ["128200000"]
    assert [c.code for c in icd10cm_for("fibromyalgia", {"crps": {"type": "I"}})] == ["M79.7"]


def test_crps_detail_without_crps_is_refused_with_why():
    document = {"patient": {"age_years": 50, "sex": "female", "weight_kg": 70},
                "pain": {"conditions": ["fibromyalgia"], "duration_weeks": 40, "prior_treatments": ["nsaid"],
                         "crps": {"type": "I"}},
                "vitals": {"systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "spo2_pct": 98},
                "history": {"cardiovascular": "none", "hypertension": "none", "intracranial_pressure": "normal",
                            "intraocular_pressure": "normal", "psychosis": "none", "hepatic_impairment": "none",
                            "substance_use": "none"}, "allergies": []}
    with pytest.raises(ValueError, match="only when conditions include crps"):
        ScreeningRequest.model_validate(document)
    document["pain"]["crps"] = {"type": "III"}
    document["pain"]["conditions"] = ["crps"]
    with pytest.raises(ValueError, match="type"):
        ScreeningRequest.model_validate(document)


def test_the_form_records_the_crps_detail_and_the_letter_prints_its_code(signed_in, clinic, db):
    client = signed_in("physician")
    url = f"/patients/{clinic.own_patient_id}/evaluations/new"
    page = client.get(url).text
    assert 'id="f-crps_type"' in page and 'id="f-crps_side"' in page
    saved = client.post(url, data={**FORM, "weight_kg": "68", "csrf_token": csrf_of(page), "crps_type": "I",
                                   "crps_limb": "upper", "crps_side": "left"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:500]
    evaluation_id = int(saved.headers["location"].split("?")[0].rsplit("/", 1)[-1])
    with db.reading() as uow:
        stored = uow.get(Evaluation, evaluation_id).screening_input
    assert stored["pain"]["crps"] == {"type": "I", "limb": "upper", "side": "left"}
    form = client.get(f"/evaluations/{evaluation_id}").text
    assert '<option value="I" selected>' in form and '<option value="left" selected>' in form  # kept on the form
    diagnosis = _diagnosis(stored)
    assert diagnosis[0]["name"].endswith("(type I, left upper limb)")
    assert diagnosis[0]["icd"] == [{"code": "G90.512", "display": "Complex regional pain syndrome I of left upper limb"}]
