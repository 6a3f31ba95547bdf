"""The frame every document shares: header, page count, demo banner, decision-support notice."""

from datetime import UTC, datetime

from ketaclinic.reports.pdf import Frame, render_pdf
from tests.reports.pdfcheck import read_pdf

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def frame(demo: bool) -> Frame:
    return Frame(title="Frame test", clinic_name="Synthetic Pain Clinic", generated_at=NOW, generated_by="physician",
                 demo=demo, subject="Patient #1")


def test_a_document_reads_back_with_its_frame_and_is_not_blank(tmp_path):
    pdf = render_pdf("base.html", frame(demo=True), {})
    back = read_pdf(pdf, str(tmp_path / "page1.png"))
    assert back.pages == 1
    assert back.title == "Frame test"
    assert "SYNTHETIC DEMO DATA" in back.text
    assert "Page 1 of 1" in back.text
    assert "Synthetic Pain Clinic" in back.text
    assert "does not replace the clinician's judgement" in back.text
    assert back.first_page_ink > 0.001
    assert (tmp_path / "page1.png").stat().st_size > 1000


def test_a_real_clinic_document_carries_no_demo_banner():
    back = read_pdf(render_pdf("base.html", frame(demo=False), {}))
    assert "SYNTHETIC" not in back.text
    assert "Synthetic demonstration data" not in back.text
