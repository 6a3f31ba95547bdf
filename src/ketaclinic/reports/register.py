"""Register reports (issue 14): the dispensing log, a count sheet, the biennial inventory, the loss report and
expiring lots, as PDF and CSV, signed and dated. Pure: a :class:`RegisterReport` in, bytes out.

Each document states who produced it and when (the signature block: the registrant signs the printed
copy), the regulation it serves (21 CFR 1304.22(c) records, 1304.11 inventories, 1301.76(b) and DEA
Form 106 losses) and a SHA-256 of its rows, so a printed copy can be matched to the CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ketaclinic.evidence.sources import get_source
from ketaclinic.reports.frame import frame_for
from ketaclinic.reports.pdf import render_pdf
from ketaclinic.reports.snapshots import Issue

TEMPLATE = "register_report.html"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = False


@dataclass(frozen=True)
class RegisterReport:
    """What one register report prints (the service fills it from the register)."""

    issue: Issue
    name: str  # dispensing-log, count-sheet, biennial-inventory, loss-report, expiring-lots
    title: str
    scope: str  # the site, range, location or moment the report covers, in words
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    source_ids: Sequence[str]
    notes: Sequence[str] = ()
    signatures: Sequence[str] = ("Prepared by", "DEA registrant")
    totals: dict[str, Any] = field(default_factory=dict)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def digest(report: RegisterReport) -> str:
    """SHA-256 of the report's rows (the same on the PDF and in the CSV)."""
    payload = [[_cell(row.get(c.key)) for c in report.columns] for row in report.rows]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()


def build_csv(report: RegisterReport) -> bytes:
    """The rows as CSV (UTF-8), then a blank line and the signature lines: title, scope, who and when, digest."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.title for c in report.columns])
    for row in report.rows:
        writer.writerow([_cell(row.get(c.key)) for c in report.columns])
    writer.writerow([])
    writer.writerow(["report", report.title])
    writer.writerow(["scope", report.scope])
    writer.writerow(["produced_by", report.issue.generated_by])
    writer.writerow(["produced_at", report.issue.now.astimezone(report.issue.tz).isoformat()])
    writer.writerow(["rows_sha256", digest(report)])
    writer.writerow(["sources", "; ".join(get_source(s).title for s in report.source_ids)])
    return out.getvalue().encode("utf-8")


def context(report: RegisterReport) -> dict[str, Any]:
    return {"report": report, "rows": [[_display(row.get(c.key), c) for c in report.columns] for row in report.rows],
            "sha256": digest(report), "sources": [get_source(s) for s in report.source_ids],
            "produced_at": report.issue.now.astimezone(report.issue.tz)}


def _display(value: Any, column: Column) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d %b %Y")
    return str(value)


def build_pdf(report: RegisterReport) -> bytes:
    return render_pdf(TEMPLATE, frame_for(report.issue, title=report.title), context(report))
