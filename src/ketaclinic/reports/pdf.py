"""HTML templates → PDF with WeasyPrint, the one place documents are drawn.

Why WeasyPrint: it lays out ordinary HTML and CSS (paged media: ``@page``, running headers, page
counters) with Pango, so the letters are written as templates a clinic can change, and the charts
the web pages draw (SVG from :mod:`ketaclinic.charts`) go into the PDF unchanged as vectors.
See docs/decisions.md ("Reports").

Every document carries the same frame (``templates/base.html``): the clinic's name, the document's
title, "page N of M", when it was produced and by whom, the decision-support notice, and — when the
data are the synthetic demo clinic — a banner on every page saying so.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ketaclinic import timefmt

TEMPLATES = Path(__file__).parent / "templates"
DECISION_SUPPORT = ("KetaClinic is decision support: it does not replace the clinician's judgement. "
                    "Check every figure against the chart before acting on it.")


def _date(value: date | datetime | None) -> str:
    """A date as everywhere else (``ketaclinic.timefmt``); the builder has already put it in the clinic's zone."""
    return timefmt.local_date(value, None)


def _datetime(value: datetime | None) -> str:
    """``06 Dec 2026 14:30 EST``: a document leaves the clinic, so its times name their zone."""
    return timefmt.MISSING if value is None else f"{timefmt.local_datetime(value, None)} {value.strftime('%Z')}".strip()


def _time(value: datetime | None) -> str:
    return timefmt.local_time(value, None)


def _num(value: float | int | None, digits: int = 1) -> str:
    """A number for a reader: no trailing zeros, a dash for a missing value."""
    if value is None:
        return "—"
    text = f"{float(value):.{digits}f}"
    if "." in text:  # 80 with digits=0 stays "80"; 80.50 becomes "80.5"
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters.update(date=_date, datetime=_datetime, time=_time, num=_num)


@dataclass(frozen=True)
class Frame:
    """What every document says about itself (header, footer, PDF metadata)."""

    title: str
    clinic_name: str
    generated_at: datetime
    generated_by: str  # username or "ketaclinic" for a system job
    demo: bool  # the synthetic demo clinic: every page says so
    subject: str = ""  # e.g. "Patient #12" (PDF metadata and header)


def svg_data_uri(svg: str) -> str:
    """An SVG chart as an ``<img src>`` WeasyPrint draws as vectors."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def render_html(template: str, frame: Frame, context: dict[str, Any]) -> str:
    """The document as HTML (also what the tests and a browser preview read)."""
    return _env.get_template(template).render(frame=frame, decision_support=DECISION_SUPPORT, **context)


def render_pdf(template: str, frame: Frame, context: dict[str, Any]) -> bytes:
    """The document as PDF bytes. Fonts come from the system (DejaVu; scripts/ensure_pdf_libs.sh)."""
    from weasyprint import HTML  # imported here: a second to load, and only documents need it

    html = render_html(template, frame, context)
    document = HTML(string=html, base_url=str(TEMPLATES)).render()
    document.metadata.title = frame.title
    document.metadata.authors = [frame.clinic_name]
    document.metadata.generator = "KetaClinic"
    document.metadata.created = frame.generated_at.isoformat()
    if frame.subject:
        document.metadata.description = frame.subject
    return document.write_pdf()
