"""The signed consent as a PDF (issue 13): the document's text as signed, the signature and its proof.

A pure builder: a :class:`ConsentSnapshot` in (taken by services/consent.py), PDF bytes out. The text is
the version the patient signed (never the current one), with its version number and SHA-256; the drawn
mark is the stored, sanitised SVG, drawn as vectors; a withdrawn consent says so on every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


def _blocks(body: str) -> list[dict[str, object]]:
    """The body's plain text as headings, paragraphs and lists ("## " headings, "- " items)."""
    blocks: list[dict[str, object]] = []
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            blocks.append({"kind": "gap"})
        elif line.startswith("## "):
            blocks.append({"kind": "heading", "text": line[3:].strip()})
        elif line.lstrip().startswith("- "):
            if blocks and blocks[-1]["kind"] == "list":
                blocks[-1]["items"].append(line.lstrip()[2:])  # type: ignore[union-attr]
            else:
                blocks.append({"kind": "list", "items": [line.lstrip()[2:]]})
        elif blocks and blocks[-1]["kind"] == "list" and raw.startswith("  "):
            items = blocks[-1]["items"]
            items[-1] = f"{items[-1]} {line.strip()}"  # type: ignore[index]
        elif blocks and blocks[-1]["kind"] == "para":
            blocks[-1]["text"] = f"{blocks[-1]['text']} {line.strip()}"
        else:
            blocks.append({"kind": "para", "text": line.strip()})
    return [b for b in blocks if b["kind"] != "gap"]


def _document(snapshot: ConsentSnapshot) -> tuple[Frame, dict[str, object]]:
    frame = Frame(title="Signed consent", clinic_name=snapshot.clinic_name, generated_at=snapshot.generated_at,
                  generated_by=snapshot.generated_by, demo=snapshot.demo, subject=f"Patient #{snapshot.patient_id}")
    return frame, {"c": snapshot, "blocks": _blocks(snapshot.body), "mark": svg_data_uri(snapshot.signature_svg)}


def consent_html(snapshot: ConsentSnapshot) -> str:
    return render_html(TEMPLATE, *_document(snapshot))


def consent_pdf(snapshot: ConsentSnapshot) -> bytes:
    return render_pdf(TEMPLATE, *_document(snapshot))
