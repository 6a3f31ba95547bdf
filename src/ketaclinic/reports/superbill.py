"""The superbill and the receipt of an invoice as PDF (issue 15): pure builders, an invoice view in, bytes out.

The superbill is the itemised statement a self-pay patient files with their insurer (out of network): the
practice and its NPI, the patient, the dates and place of service, the ICD-10-CM diagnoses (lettered as on
a CMS-1500, item 21) and each CPT/HCPCS line with its units, diagnosis pointers and charge, the rendering
clinician and NPI, what was paid and the balance. The codes' sources are printed; the rules that are
conventions are listed as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ketaclinic.reports.pdf import Frame, render_html, render_pdf


def _frame(title: str, view: Any, context: dict[str, Any], *, clinic_name: str, generated_at: datetime,
           generated_by: str) -> Frame:
    return Frame(title=title, clinic_name=clinic_name, generated_at=generated_at, generated_by=generated_by,
                 demo=bool(context.get("demo")), subject=f"Invoice {view.number}")


def superbill_html(view: Any, context: dict[str, Any], *, clinic_name: str, generated_at: datetime,
                   generated_by: str) -> str:
    frame = _frame("Superbill", view, context, clinic_name=clinic_name, generated_at=generated_at,
                   generated_by=generated_by)
    return render_html("superbill.html", frame, {"invoice": view, **context})


def build_superbill(view: Any, context: dict[str, Any], *, clinic_name: str, generated_at: datetime,
                    generated_by: str) -> bytes:
    frame = _frame("Superbill", view, context, clinic_name=clinic_name, generated_at=generated_at,
                   generated_by=generated_by)
    return render_pdf("superbill.html", frame, {"invoice": view, **context})


def build_receipt(view: Any, context: dict[str, Any], *, clinic_name: str, generated_at: datetime,
                  generated_by: str) -> bytes:
    frame = _frame("Receipt", view, context, clinic_name=clinic_name, generated_at=generated_at,
                   generated_by=generated_by)
    return render_pdf("receipt.html", frame, {"invoice": view, **context})
