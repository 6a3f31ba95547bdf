"""Evidence levels and recommendation grades as the ASRA/AAPM/ASA 2018 guideline publishes them.

The chronic-pain ketamine guideline (source ``asra2018``) states, for each statement, a *level of
evidence* in words ("moderate evidence", "weak evidence", "weak or no evidence") and a *grade of
recommendation* with a *level of certainty*, printed together as e.g. ``"C, Low"``. The grade letters
follow the US Preventive Services Task Force scheme the guideline adopts (A = high certainty of a
substantial net benefit ... D = recommend against / no net benefit); certainty is High, Moderate or
Low. Where the summaries we read leave the certainty blank (CRPS: "Grade B", certainty not printed
by GuidelineCentral, "low to moderate" in one version) the certainty is ``None`` rather than a guess.

These are small, typed, immutable values so that a rule, a condition or a report cannot carry a
misspelt grade ("c-low", "B low") and every printed grade looks the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EvidenceLevel(StrEnum):
    """The guideline's words for how much evidence supports ketamine for a use."""

    STRONG = "strong"
    MODERATE = "moderate"
    WEAK = "weak"
    WEAK_OR_NONE = "weak_or_none"
    """ASRA 2018 groups most conditions as "weak or no evidence" of (immediate) improvement."""
    NOT_ADDRESSED = "not_addressed"
    """The guideline (as far as it was read) gives no statement for this use."""


class RecommendationGrade(StrEnum):
    """Grade of recommendation (USPSTF letters, as adopted by ASRA 2018)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class Certainty(StrEnum):
    """Level of certainty attached to a grade."""

    HIGH = "High"
    MODERATE = "Moderate"
    LOW = "Low"


@dataclass(frozen=True)
class GuidelineGrade:
    """A grade as printed in the guideline: letter plus certainty (``"C, Low"``)."""

    grade: RecommendationGrade
    certainty: Certainty | None = None

    def label(self) -> str:
        """``"C, Low"``, or ``"B"`` when the certainty was not printed."""
        return f"{self.grade.value}, {self.certainty.value}" if self.certainty else self.grade.value

    def __str__(self) -> str:
        return self.label()

    @classmethod
    def parse(cls, text: str) -> GuidelineGrade:
        """Read ``"C, Low"`` / ``"B"`` / ``"d low"`` back into a grade; raises ``ValueError`` otherwise."""
        parts = [p for p in text.replace(",", " ").split() if p]
        if not parts or len(parts) > 2:
            raise ValueError(f"not a guideline grade: {text!r} (expected e.g. 'C, Low')")
        try:
            grade = RecommendationGrade(parts[0].upper())
        except ValueError:
            raise ValueError(f"unknown recommendation grade {parts[0]!r}; allowed: A, B, C, D") from None
        certainty = None
        if len(parts) == 2:
            try:
                certainty = Certainty(parts[1].capitalize())
            except ValueError:
                raise ValueError(f"unknown certainty {parts[1]!r}; allowed: High, Moderate, Low") from None
        return cls(grade, certainty)


# The grades that recur in the ASRA 2018 statements KetaClinic encodes.
B = GuidelineGrade(RecommendationGrade.B)
B_LOW = GuidelineGrade(RecommendationGrade.B, Certainty.LOW)
C_LOW = GuidelineGrade(RecommendationGrade.C, Certainty.LOW)
D_LOW = GuidelineGrade(RecommendationGrade.D, Certainty.LOW)
