"""Read a PDF back the way a reader would: its text, its page count, and its first page as pixels."""

from __future__ import annotations

from dataclasses import dataclass

import pypdfium2 as pdfium


@dataclass(frozen=True)
class ReadBack:
    pages: int
    text: str  # all pages, in reading order
    first_page_ink: float  # share of first-page pixels that are not white (0 = blank)
    title: str


def read_pdf(data: bytes, png_path: str | None = None) -> ReadBack:
    """Open the bytes with PDFium (not the library that wrote them), extract text, draw page 1."""
    assert data[:5] == b"%PDF-", "not a PDF"
    document = pdfium.PdfDocument(data)
    try:
        text = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
        image = document[0].render(scale=1).to_pil().convert("L")
        if png_path:
            image.save(png_path)
        histogram = image.histogram()  # 256 grey levels
        ink = sum(histogram[:200]) / float(sum(histogram))
        title = (document.get_metadata_dict() or {}).get("Title", "")
        return ReadBack(pages=len(document), text=text, first_page_ink=ink, title=title)
    finally:
        document.close()
