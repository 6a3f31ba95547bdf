"""The one table of the mass units a ketamine dose may be recorded in (issue 18: it was typed in three
places), and a reader of it that cannot change it."""

from __future__ import annotations

import pytest

from ketaclinic.interop import research
from ketaclinic.pharmacology.regimen import MG_PER_UNIT


def test_the_factors_to_mg() -> None:
    assert dict(MG_PER_UNIT) == {"mg": 1.0, "mcg": 0.001, "g": 1000.0}
    with pytest.raises(TypeError):
        MG_PER_UNIT["mcg"] = 1.0  # type: ignore[index]


def test_the_research_export_reads_doses_through_it() -> None:
    """5000 mg is the most a dose may be: 5 g is plausible, 5.1 g and 5,000,001 mcg are not."""
    assert research.plausible("dose", 5.0, unit="g") and not research.plausible("dose", 5.1, unit="g")
    assert not research.plausible("dose", 5_000_001.0, unit="mcg") and research.plausible("dose", 5_000_000.0, unit="mcg")
