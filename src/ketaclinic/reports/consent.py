"""The signed consent as a PDF (issue 13): the document's text as signed, the signature and its proof.

A pure builder: a :class:`ConsentSnapshot` in (taken by services/consent.py), PDF bytes out. The text is
the version the patient signed (never the current one), with its version number and SHA-256; the drawn
mark is the stored, sanitised SVG, drawn as vectors; a withdrawn consent says so on every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from ketaclinic.clinical.consent import document_blocks, sources_cited
from ketaclinic.reports.pdf import Frame, render_html, render_pdf, svg_data_uri

TEMPLATE = "consent_signed.html"


@dataclass(frozen=True)
class ConsentSnapshot:
    clinic_name: str
    patient_name: str
    patient_birth_date: str
    patient_id: int
    title: str
    body: str
    document_version: int
    document_sha256: str
    reviewed_by: str | None
    typed_name: str
    signature_svg: str
    signed_at: datetime  # in the clinic's zone
    channel: str
    witness_name: str | None
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    generated_at: datetime
    generated_by: str
    demo: bool


def _document(snapshot: ConsentSnapshot) -> tuple[Frame, dict[str, object]]:
    frame = Frame(title="Signed consent", clinic_name=snapshot.clinic_name, generated_at=snapshot.generated_at,
                  generated_by=snapshot.generated_by, demo=snapshot.demo, subject=f"Patient #{snapshot.patient_id}")
    return frame, {"c": snapshot, "blocks": document_blocks(snapshot.body),
                   "sources": sources_cited(snapshot.body), "mark": svg_data_uri(snapshot.signature_svg)}


def consent_html(snapshot: ConsentSnapshot) -> str:
    return render_html(TEMPLATE, *_document(snapshot))


def consent_pdf(snapshot: ConsentSnapshot) -> bytes:
    return render_pdf(TEMPLATE, *_document(snapshot))


@lru_cache(maxsize=256)  # a signed consent's PDF is some 30-60 kB: at most ~15 MB per process
def attached_consent_pdf(snapshot: ConsentSnapshot) -> bytes:
    """:func:`consent_pdf` of a snapshot that does not change between exports (frozen, so hashable):
    rendered once per process and reused by every later export of the same signed document."""
    return consent_pdf(snapshot)
