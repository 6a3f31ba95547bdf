"""Draw the first page of the patient summary and the outcome report of the demo clinic as PNGs for the docs.

    .venv/bin/python scripts/report_screenshots.py [--out docs/screenshots] [--patients 40]

Seeds the synthetic demo clinic into a temporary SQLite database (nothing else is touched), renders
both PDFs as the demo users would ask for them, and writes ``report-patient-summary.png`` and
``report-outcomes.png`` (page 1, 1.5x). The PDFs are kept beside them in the temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
from sqlalchemy import select

from ketaclinic.demo import seed_demo
from ketaclinic.records.db import Database
from ketaclinic.records.migrate import upgrade
from ketaclinic.records.users import User
from ketaclinic.services.auth import actor_for
from ketaclinic.services.documents import outcome_report as outcome_report_pdf
from ketaclinic.services.documents import patient_summary as patient_summary_pdf
from ketaclinic.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def first_page_png(pdf: bytes, path: Path, scale: float = 1.5) -> None:
    document = pdfium.PdfDocument(pdf)
    try:
        document[0].render(scale=scale).to_pil().convert("RGB").save(path, optimize=True)
    finally:
        document.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--patients", type=int, default=40)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ketaclinic-report-shots-"))
    url = f"sqlite:///{tmp / 'demo.db'}"
    upgrade(url)
    settings = Settings(env="development", database_url=url, secret_key_file=tmp / "secret")
    db = Database(url)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = seed_demo(db, settings, now=now, patients=args.patients)
    with db.reading() as session:
        actors = {u.username: actor_for(u, "127.0.0.1") for u in session.execute(select(User)).scalars()}
    pdfs = {
        "report-patient-summary": patient_summary_pdf(db, actors["patient"], summary.patient_user_patient_id, now=now,
                                                      tz=settings.timezone),
        "report-outcomes": outcome_report_pdf(db, actors["physician"], now=now),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, pdf in pdfs.items():
        (tmp / f"{name}.pdf").write_bytes(pdf)
        first_page_png(pdf, args.out / f"{name}.png")
        print(f"{args.out / (name + '.png')}  (PDF: {tmp / (name + '.pdf')})")
    db.dispose()


if __name__ == "__main__":
    main()
