"""The patient's FHIR export carries each signed consent (issue 13) as a ``Consent`` with the signed PDF attached;
a withdrawn one stays, inactive, its permit ending at the withdrawal; a Consent in a referral is ignored with the
reason. SQLite: nothing here depends on the engine."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.consent import Consent

from ketaclinic.interop.fhir_import import read_referral
from ketaclinic.services import consent as cn
from ketaclinic.services.fhir import export_patient
from tests.consent_support import sign_in
from tests.interop.facts import unknown_codes

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _consents(bundle):
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent"]


def test_each_signed_consent_is_in_the_export_with_its_pdf(db, clinic):
    physician, patient = clinic.actors["physician"], clinic.actors["patient"]
    first = cn.consent_status(db, physician, clinic.own_patient_id).signature  # the fixture signed version 1
    cn.withdraw(db, patient, first.id, cn.WithdrawIn(reason="synthetic"), now=NOW - timedelta(days=2))
    again = sign_in(db, patient, clinic.own_patient_id, "Synthetic Own", now=NOW - timedelta(days=1))

    bundle = export_patient(db, physician, clinic.own_patient_id, now=NOW)
    assert unknown_codes(bundle) == set()
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    entries = _consents(bundle)
    assert len(entries) == 2
    withdrawn, standing = (e["resource"] for e in entries)
    for resource, signature in ((withdrawn, first), (standing, again)):
        Consent.model_validate(resource)
        assert resource["patient"] == {"reference": patient_url} and resource["performer"] == [{"reference": patient_url}]
        assert resource["identifier"][0]["value"] == str(signature.id)
        assert resource["organization"][0]["reference"].startswith("urn:uuid:")
        attachment = resource["sourceAttachment"]
        pdf = base64.b64decode(attachment["data"])
        assert attachment["contentType"] == "application/pdf" and pdf.startswith(b"%PDF")
        assert base64.b64decode(attachment["hash"]) == hashlib.sha1(pdf).digest()  # noqa: S324 - FHIR's hash
        assert f"version 1, SHA-256 {signature.document_sha256}" in attachment["title"]
    assert standing["status"] == "active" and standing["provision"] == {"type": "permit"}
    assert withdrawn["status"] == "inactive"
    assert withdrawn["provision"]["type"] == "permit"
    assert datetime.fromisoformat(withdrawn["provision"]["period"]["end"]) == NOW - timedelta(days=2)


def test_a_consent_in_a_referral_is_ignored_with_the_reason(db, clinic):
    bundle = export_patient(db, clinic.actors["physician"], clinic.own_patient_id, now=NOW)
    referral = read_referral(bundle, today=NOW.date())
    ignored = [i for i in referral.ignored if i["resource"] == "Consent"]
    assert len(ignored) == 1 and "signs this clinic's consent document" in ignored[0]["reason"]
