"""Consent (issue 13): versioned documents, signing (portal, tablet, witness), withdrawal, and the start guard
(``consent_required``) on a course's first infusion. SQLite: nothing here depends on the engine."""

from datetime import date, timedelta

import pytest

from ketaclinic.clinical.consent import (
    DEFAULT_BODY,
    DEFAULT_TITLE,
    SignatureInvalid,
    clean_signature_svg,
    document_sha256,
)
from ketaclinic.services import clinic_settings as cs
from ketaclinic.services import consent as cn
from ketaclinic.services import sessions as ss
from ketaclinic.services.errors import Conflict, NotFound, ValidationFailed
from ketaclinic.services.patients import PatientIn, create_patient
from tests.consent_support import SIGNATURE_SVG, sign_in
from tests.interop.flows import T0, checked_in, checklist, signed_plan

AT = T0 + timedelta(days=7)


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _new_patient(db, clinic, name="Unsigned"):
    from ketaclinic.services.context import Actor
    from ketaclinic.services.sites import default_site_id

    with db.reading() as uow:
        seed = Actor(user_id=None, username="seed", role="coordinator", site_ids=(default_site_id(uow),))
    return create_patient(db, seed, PatientIn(given_name="Synthetic", family_name=name, birth_date=date(1975, 5, 6),
                                              sex="female", weight_kg=70.0, email="unsigned@example.org")).id


def _start(db, clinic, patient_id, at=AT):
    nurse, physician = clinic.actors["nurse"], clinic.actors["physician"]
    visit = checked_in(db, clinic, signed_plan(db, clinic, patient_id), at)
    visit = ss.record_checklist(db, nurse, visit.id, visit.version, checklist(at), now=at)
    return visit, lambda v=visit: ss.start_session(db, nurse, v.id, v.version, now=at, double_check=physician)


def test_the_default_document_is_a_template_with_its_hash(db, clinic):
    document = cn.current_document(db, clinic.actors["patient"])
    assert document.version == 1 and document.template and document.reviewed_by is None
    assert document.sha256 == document_sha256(DEFAULT_TITLE, DEFAULT_BODY)
    for words in ("off-label", "dissociation", "blood pressure", "Nausea", "cystitis", "Liver", "misuse",
                  "Do not drive", "escort", "Pregnancy", "breastfeeding", "withdraw"):
        assert words.lower() in document.body.lower(), words


def test_no_infusion_starts_without_a_signature(db, clinic):
    """The guard: removing the consent check from start_session makes this test fail."""
    patient_id = _new_patient(db, clinic)
    _visit, start = _start(db, clinic, patient_id)
    with pytest.raises(Conflict) as refused:
        start()
    assert refused.value.code == "consent_required"
    sign_in(db, clinic.actors["nurse"], patient_id, "Synthetic Unsigned", now=AT)
    assert start().state == "running"


def test_a_signature_holds_version_hash_mark_and_witness(db, clinic):
    patient = clinic.actors["patient"]
    signed = sign_in(db, patient, clinic.own_patient_id, "Synthetic Own", now=AT)
    assert signed.channel == "portal" and signed.witness_name is None and signed.current_version
    status = cn.consent_status(db, patient, clinic.own_patient_id)
    assert status.state == "valid" and status.signature.id == signed.id
    assert status.signature.document_sha256 == status.current.sha256
    tablet = sign_in(db, clinic.actors["nurse"], clinic.other_patient_id, "Synthetic Other", now=AT)
    assert tablet.channel == "tablet" and tablet.witness_name


def test_signing_an_outdated_version_or_a_bad_mark_is_refused(db, clinic):
    patient = clinic.actors["patient"]
    document = cn.current_document(db, patient)
    with pytest.raises(Conflict) as changed:
        cn.sign(db, patient, clinic.own_patient_id, cn.SignIn(
            document_version=document.version, document_sha256="0" * 64, typed_name="Synthetic Own",
            signature_svg=SIGNATURE_SVG))
    assert changed.value.code == "consent_document_changed"
    with pytest.raises(ValidationFailed) as bad:
        cn.sign(db, patient, clinic.own_patient_id, cn.SignIn(
            document_version=document.version, document_sha256=document.sha256, typed_name="Synthetic Own",
            signature_svg='<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'))
    assert bad.value.code == "signature_invalid"
    with pytest.raises(NotFound):  # another patient's chart: the portal reaches only its own
        sign_in(db, patient, clinic.other_patient_id)


def test_marks_are_sanitised():
    assert "<path" in clean_signature_svg(SIGNATURE_SVG)
    for bad in ('<svg xmlns="http://www.w3.org/2000/svg"></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><path d="M 1 1" onload="x()"/></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg"><image href="javascript:x"/></svg>',
                '<!DOCTYPE x [<!ENTITY a "b">]><svg/>'):
        with pytest.raises(SignatureInvalid):
            clean_signature_svg(bad)


def test_withdrawal_stops_the_next_infusion(db, clinic):
    status = cn.consent_status(db, clinic.actors["nurse"], clinic.own_patient_id)  # signed by the fixture
    withdrawn = cn.withdraw(db, clinic.actors["patient"], status.signature.id, cn.WithdrawIn(reason="changed my mind"))
    assert withdrawn.withdrawn_at is not None
    with pytest.raises(Conflict) as twice:
        cn.withdraw(db, clinic.actors["patient"], status.signature.id, cn.WithdrawIn())
    assert twice.value.code == "consent_withdrawn"
    assert cn.consent_status(db, clinic.actors["nurse"], clinic.own_patient_id).state == "withdrawn"
    _visit, start = _start(db, clinic, clinic.own_patient_id)
    with pytest.raises(Conflict) as refused:
        start()
    assert refused.value.code == "consent_required" and "withdrew" in refused.value.message


def test_a_new_version_asks_for_reconsent_at_the_next_course(db, clinic):
    admin, nurse = clinic.actors["admin"], clinic.actors["nurse"]
    visit, start = _start(db, clinic, clinic.own_patient_id)
    assert start().state == "running"  # first course started under version 1
    new = cn.publish_document(db, admin, 1, cn.DocumentIn(title=DEFAULT_TITLE, body=DEFAULT_BODY.replace(
        "TEMPLATE: the clinic's medical director must review and adapt this text before patients sign it.\n", ""),
        reviewed_by="Dr Synthetic Director", note="reviewed"))
    assert new.version == 2 and not new.template
    assert cn.get_document(db, clinic.actors["patient"], 1).template  # the old version stays readable
    with pytest.raises(Conflict):
        cn.publish_document(db, admin, 1, cn.DocumentIn(title="Stale", body=DEFAULT_BODY))
    # the same course goes on under the earlier signature ...
    second = checked_in(db, clinic, _plan_of(db, nurse, visit.id),
                        AT + timedelta(days=1))
    second = ss.record_checklist(db, nurse, second.id, second.version, checklist(AT + timedelta(days=1)),
                                 now=AT + timedelta(days=1))
    assert ss.start_session(db, nurse, second.id, second.version, now=AT + timedelta(days=1),
                            double_check=clinic.actors["physician"]).state == "running"
    # ... and a new course needs version 2
    _visit, start_new = _start(db, clinic, clinic.own_patient_id, AT + timedelta(days=30))
    with pytest.raises(Conflict) as refused:
        start_new()
    assert refused.value.code == "consent_required" and "version 2" in refused.value.message
    sign_in(db, clinic.actors["patient"], clinic.own_patient_id)
    assert start_new().state == "running"


def _plan_of(db, actor, session_id):
    from ketaclinic.services.plans import get_plan

    return get_plan(db, actor, ss.get_session(db, actor, session_id).plan_id)


def test_the_clinic_may_require_a_witness(db, clinic):
    cs.update_settings(db, clinic.actors["admin"], 0, cs.ClinicSettingsPatch(consent_witness_required=True))
    with pytest.raises(Conflict) as portal:
        sign_in(db, clinic.actors["patient"], clinic.own_patient_id)
    assert portal.value.code == "witness_required"
    assert sign_in(db, clinic.actors["coordinator"], clinic.own_patient_id).witness_name


def test_contact_preferences(db, clinic):
    patient = clinic.actors["patient"]
    assert cn.contact_preferences(db, patient, clinic.own_patient_id).contact_consent is False
    view = cn.set_contact_preferences(db, patient, clinic.own_patient_id, cn.ContactIn(contact_consent=True))
    assert view.contact_consent and view.contact_consent_at is not None
    view = cn.set_contact_preferences(db, patient, clinic.own_patient_id,
                                      cn.ContactIn(contact_consent=True, reminders_opt_out=True))
    assert view.reminders_opt_out


def test_every_export_attaches_the_same_pdf_until_the_consent_changes(db, clinic):
    """The FHIR attachment is the document as of its last change: two exports a month apart carry the
    same bytes and hash; a withdrawal makes a new document (and hash)."""
    from ketaclinic.services.fhir import export_patient

    def attachment(actor, now):
        bundle = export_patient(db, actor, clinic.own_patient_id, now=now)
        consents = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent"]
        assert len(consents) == 1
        return consents[0]["sourceAttachment"]

    first = attachment(clinic.actors["physician"], AT)
    again = attachment(clinic.actors["physician"], AT + timedelta(days=30))
    assert first["hash"] == again["hash"] and first["data"] == again["data"]
    signature = cn.consent_status(db, clinic.actors["nurse"], clinic.own_patient_id).signature
    alone = cn.signed_fhir(db, clinic.actors["physician"], signature.id)  # the single-consent read says the same
    assert alone["sourceAttachment"]["hash"] == first["hash"]
    cn.withdraw(db, clinic.actors["patient"], signature.id, cn.WithdrawIn(reason="changed my mind"))
    withdrawn = attachment(clinic.actors["physician"], AT + timedelta(days=31))
    assert withdrawn["hash"] != first["hash"]
