"""Structured scores a nurse records during a session beside MOAA/S: CADSS-6 (dissociation) and RASS
(agitation and sedation). Pure scoring, no I/O.

- **CADSS-6** (Rodrigues 2021, J Affect Disord 282:160-164): six items of the 23-item Clinician-Administered
  Dissociative States Scale (Bremner 1998), items 1, 2, 6, 7, 15 and 22, chosen as the items most
  sensitive to IV-ketamine dissociation; its total correlated 0.91-0.95 with the full CADSS. The items
  are kept under their original CADSS numbers (``cadss_1`` ...) so the clinic's licensed form is the
  wording; each is rated 0 (not at all) to 4 (extremely) as on the CADSS, so the total is 0-24.
  The authors say the short form is not yet validated, and no cut-off was published: KetaClinic
  records and shows the score and its change, and raises **no alert from it** (the nurse's severity
  of ``dissociation`` drives the alert rule).
- **RASS** (Sessler 2002, Am J Respir Crit Care Med 166:1338-1344): ten levels, +4 combative to -5
  unarousable, 0 alert and calm. The alert thresholds on it (>= +2 agitation, <= -3 sedation) are
  clinic policy, see :mod:`ketaclinic.clinical.monitoring`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: The ten RASS levels and their names (Sessler 2002).
RASS_LEVELS: dict[int, str] = {
    4: "combative",
    3: "very agitated",
    2: "agitated",
    1: "restless",
    0: "alert and calm",
    -1: "drowsy",
    -2: "light sedation",
    -3: "moderate sedation",
    -4: "deep sedation",
    -5: "unarousable",
}
RASS_MIN, RASS_MAX = -5, 4

RassScore = Annotated[int, Field(strict=True, ge=RASS_MIN, le=RASS_MAX,
                                 description="Richmond Agitation-Sedation Scale, -5 (unarousable) to +4 (combative)")]

CADSS_ITEM_MAX = 4
CadssItem = Annotated[int, Field(strict=True, ge=0, le=CADSS_ITEM_MAX,
                                 description="0 not at all, 1 slightly, 2 moderately, 3 considerably, 4 extremely")]

#: CADSS-6 items by their number in the full CADSS, with a short reminder of what each asks (the
#: clinic's licensed CADSS form carries the exact wording).
CADSS6_ITEMS: dict[str, str] = {
    "cadss_1": "things seem to move in slow motion",
    "cadss_2": "things seem unreal, as in a dream",
    "cadss_6": "feels disconnected from own body",
    "cadss_7": "sense of own body changed (larger or smaller)",
    "cadss_15": "spaces out, loses track of what is going on",
    "cadss_22": "observer item 22 of the CADSS (rated by the nurse)",
}
CADSS6_MAX = CADSS_ITEM_MAX * len(CADSS6_ITEMS)


class Cadss6(BaseModel):
    """The six CADSS-6 item ratings; every item is required (a missing item is never scored 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cadss_1: CadssItem
    cadss_2: CadssItem
    cadss_6: CadssItem
    cadss_7: CadssItem
    cadss_15: CadssItem
    cadss_22: CadssItem

    @property
    def total(self) -> int:
        return cadss6_total(self)


def cadss6_total(items: Cadss6) -> int:
    """The CADSS-6 total, 0-24: the sum of the six item ratings (Rodrigues 2021)."""
    return sum(getattr(items, name) for name in CADSS6_ITEMS)


