"""Questionnaire lines for the course letter and the patient summary (issue 15). Pure: lines in, template data out.

Each line is one instrument's first and latest total, the change and whether it reached the instrument's MCID
(PGIC: its latest answer). ``_questionnaires.html`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PromLine:
    instrument: str
    name: str
    answers: int  # completed responses
    first: int
    first_at: datetime
    latest: int
    latest_at: datetime
    latest_label: str | None  # the latest severity band's words
    max_total: int
    mcid: float | None
    source: str | None  # the MCID's (or the instrument's) evidence id

    @property
    def change(self) -> int:
        return self.latest - self.first

    @property
    def improved(self) -> bool | None:
        if self.mcid is None or self.answers < 2:
            return None
        return self.first - self.latest >= self.mcid


def prom_context(lines: tuple[PromLine, ...]) -> list[dict[str, object]]:
    """What the templates print, one dict per instrument (PGIC last)."""
    ordered = sorted(lines, key=lambda line: (line.instrument == "pgic", line.name))
    return [{"name": line.name, "answers": line.answers, "first": line.first, "first_at": line.first_at,
             "latest": line.latest, "latest_at": line.latest_at, "label": line.latest_label,
             "max": line.max_total, "change": line.change, "mcid": line.mcid, "improved": line.improved,
             "source": line.source, "global": line.instrument == "pgic"} for line in ordered]
