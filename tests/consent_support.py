"""Signing the consent document in tests: the shared fixtures sign it for their patients, as a clinic would
before a course (issue 13: a course's first infusion needs a signature of the current version)."""

from __future__ import annotations

from datetime import datetime

#: A drawn mark as the signature pad writes it (two strokes and a dot)
SIGNATURE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 300 120" '
    'width="300" height="120"><path d="M 20.000,80.000 C 40.000,20.000 60.000,100.000 90.000,40.000" '
    'stroke-width="2.250" stroke="rgb(0, 0, 0)" fill="none" stroke-linecap="round"></path>'
    '<path d="M 100.000,60.000 C 130.000,30.000 160.000,90.000 200.000,50.000" stroke-width="2.000" '
    'stroke="rgb(0, 0, 0)" fill="none" stroke-linecap="round"></path><circle r="1.5" cx="220" cy="70" '
    'fill="rgb(0, 0, 0)"></circle></svg>')


def sign_in(db, actor, patient_id: int, name: str = "Synthetic Patient", now: datetime | None = None):
    """``actor`` (the patient in the portal, or staff holding the tablet) signs the current version."""
    from ketaclinic.services import consent

    with db.reading() as uow:
        document = consent.current_document_row(uow)
        version, sha = document.version, document.sha256
    return consent.sign(db, actor, patient_id, consent.SignIn(
        document_version=version, document_sha256=sha, typed_name=name, signature_svg=SIGNATURE_SVG), now=now)


def sign_consent(db, patient_id: int, now: datetime | None = None):
    """The patient signs on the clinic's tablet, a nurse-role system witness holding it (fixtures)."""
    from ketaclinic.services.context import Actor

    return sign_in(db, Actor.system("tests"), patient_id, now=now)
