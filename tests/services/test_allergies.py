"""Allergies on the chart (issue 12): structured, append-only with amendments; unknown is not none; a ketamine
allergy comes first and refuses a ketamine plan, citing the ketamine label."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text, update

from ketaclinic.evidence.sources import get_source
from ketaclinic.records.allergies import AllergyEntry
from ketaclinic.services import allergies as al
from ketaclinic.services import plans as pl
from ketaclinic.services.banner import patient_banner
from ketaclinic.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.interop.flows import signed_evaluation


def _record(db, clinic, **body):
    return al.record_allergy(db, clinic.actors["nurse"], clinic.own_patient_id, al.AllergyIn(**body))


def test_unknown_is_not_none(db, clinic):
    nurse = clinic.actors["nurse"]
    empty = al.list_allergies(db, nurse, clinic.own_patient_id)
    assert empty.state == "not_recorded" and empty.current == [] and not empty.ketamine_allergy
    assert patient_banner(db, nurse, clinic.own_patient_id).allergies_state == "not_recorded"
    nka = _record(db, clinic, kind="no_known_allergies")
    listed = al.list_allergies(db, nurse, clinic.own_patient_id)
    assert listed.state == "none_known" and [v.id for v in listed.current] == [nka.id]
    assert nka.recorded_by_name == "nurse" and nka.recorded_at is not None


def test_ketamine_is_coded_and_listed_first_with_who_and_when(db, clinic):
    _record(db, clinic, substance="Penicillin", reaction="hives", severity="moderate")
    ketalar = _record(db, clinic, substance="Ketalar", reaction="anaphylaxis", severity="severe")
    esk = al.substance_code("Spravato nasal spray")
    assert ketalar.substance_code == "ketamine" and esk == "esketamine" and al.substance_code("latex") is None
    listed = al.list_allergies(db, clinic.actors["physician"], clinic.own_patient_id)
    assert listed.state == "recorded" and listed.ketamine_allergy
    assert [v.substance for v in listed.current] == ["Ketalar", "Penicillin"]
    assert listed.current[0].recorded_by_name == "nurse"
    banner = patient_banner(db, clinic.actors["nurse"], clinic.own_patient_id)
    assert banner.ketamine_allergy and banner.allergies[0] == "Ketalar (anaphylaxis)"


def test_an_allergy_withdraws_no_known_allergies_and_nka_is_refused_while_allergies_stand(db, clinic):
    nka = _record(db, clinic, kind="no_known_allergies")
    _record(db, clinic, substance="latex", reaction="rash")
    listed = al.list_allergies(db, clinic.actors["nurse"], clinic.own_patient_id)
    assert listed.state == "recorded"
    withdrawn = [v for v in listed.history if v.replaces_id == nka.id]
    assert withdrawn and withdrawn[0].status == "entered_in_error" and "latex" in withdrawn[0].note
    with pytest.raises(Conflict) as refused:
        _record(db, clinic, kind="no_known_allergies")
    assert refused.value.code == "allergies_recorded"
    with pytest.raises(Conflict) as twice:
        _record(db, clinic, substance="LATEX")
    assert twice.value.code == "allergy_recorded"


def test_a_correction_is_a_new_version_and_the_original_is_kept(db, clinic):
    first = _record(db, clinic, substance="penicilin", reaction="rash", severity="mild")
    corrected = al.amend_allergy(db, clinic.actors["physician"], first.id,
                                 al.AllergyAmend(action="correct", substance="penicillin", note="typo"))
    assert corrected.replaces_id == first.id and corrected.reaction == "rash" and corrected.severity == "mild"
    listed = al.list_allergies(db, clinic.actors["nurse"], clinic.own_patient_id)
    assert [v.substance for v in listed.current] == ["penicillin"]
    old = next(v for v in listed.history if v.id == first.id)
    assert old.substance == "penicilin" and not old.current  # kept, not overwritten
    with pytest.raises(Conflict) as again:  # only the current version is amended
        al.amend_allergy(db, clinic.actors["nurse"], first.id, al.AllergyAmend(action="entered_in_error", note="x"))
    assert again.value.code == "allergy_superseded"
    with pytest.raises(ValidationFailed):  # a correction must change something
        al.amend_allergy(db, clinic.actors["nurse"], corrected.id,
                         al.AllergyAmend(action="correct", substance="penicillin", note="same"))


def test_entered_in_error_leaves_the_chart_unknown_not_none(db, clinic):
    entry = _record(db, clinic, substance="ketamine", reaction="rash")
    gone = al.amend_allergy(db, clinic.actors["nurse"], entry.id,
                            al.AllergyAmend(action="entered_in_error", note="wrong patient"))
    assert gone.status == "entered_in_error" and gone.substance == "ketamine" and not gone.ketamine
    listed = al.list_allergies(db, clinic.actors["nurse"], clinic.own_patient_id)
    assert listed.state == "not_recorded" and not listed.ketamine_allergy and len(listed.history) == 2
    with pytest.raises(Conflict) as final:
        al.amend_allergy(db, clinic.actors["nurse"], gone.id, al.AllergyAmend(action="correct", substance="x", note="y"))
    assert final.value.code in ("allergy_withdrawn", "allergy_superseded")


def test_rows_are_append_only_in_the_database(db, clinic):
    entry = _record(db, clinic, substance="latex")
    with pytest.raises(Exception, match="(?i)append-only|refused"), db.transaction() as session:
        session.execute(update(AllergyEntry).where(AllergyEntry.id == entry.id).values(substance="nothing"))
    with pytest.raises(Exception, match="(?i)append-only|refused"), db.transaction() as session:
        session.execute(text("DELETE FROM allergy_entries"))


def test_input_is_checked_and_roles_are_enforced(db, clinic):
    with pytest.raises(ValidationError):
        al.AllergyIn(kind="allergy")  # no substance
    with pytest.raises(ValidationError):
        al.AllergyIn(kind="no_known_allergies", substance="latex")
    with pytest.raises(ValidationError):
        al.AllergyAmend(action="entered_in_error", note="  ")
    for role in ("coordinator", "admin", "patient"):
        with pytest.raises(Forbidden):
            al.record_allergy(db, clinic.actors[role], clinic.own_patient_id, al.AllergyIn(substance="latex"))
    with pytest.raises(NotFound):
        al.record_allergy(db, clinic.actors["nurse"], 999_999, al.AllergyIn(substance="latex"))


def test_a_ketamine_allergy_on_the_chart_refuses_a_plan_citing_the_label(db, clinic):
    pid = clinic.own_patient_id
    evaluation = signed_evaluation(db, clinic, pid)
    body = {"patient_id": pid, "evaluation_id": evaluation.id, "protocol": "outpatient_infusion"}
    draft = pl.create_plan(db, clinic.actors["physician"], pl.PlanIn.model_validate(body))
    entry = _record(db, clinic, substance="Ketamine", reaction="anaphylaxis", severity="severe")
    with pytest.raises(Conflict) as refused:
        pl.create_plan(db, clinic.actors["physician"], pl.PlanIn.model_validate(body))
    assert refused.value.code == "ketamine_allergy"
    assert get_source("ketalar_pi").title in refused.value.message and "hypersensitivity" in refused.value.message
    with pytest.raises(Conflict) as unsigned:  # recorded after the draft: the signature is refused too
        pl.sign_plan(db, clinic.actors["physician"], draft.id, draft.version)
    assert unsigned.value.code == "ketamine_allergy"
    al.amend_allergy(db, clinic.actors["physician"], entry.id,
                     al.AllergyAmend(action="entered_in_error", note="another patient's allergy"))
    assert pl.sign_plan(db, clinic.actors["physician"], draft.id, draft.version).status == "signed"


def test_no_known_allergies_is_withdrawn_not_corrected(db, clinic):
    nka = _record(db, clinic, kind="no_known_allergies")
    with pytest.raises(ValidationFailed) as refused:
        al.amend_allergy(db, clinic.actors["nurse"], nka.id,
                         al.AllergyAmend(action="correct", substance="latex", note="found one"))
    assert refused.value.field == "action"
    with pytest.raises(Conflict) as again:
        _record(db, clinic, kind="no_known_allergies")
    assert again.value.code == "allergy_recorded"
