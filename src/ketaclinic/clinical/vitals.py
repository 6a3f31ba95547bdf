"""Vital signs as the clinic records them, with the ranges a real measurement can take.

The ranges are physiological plausibility limits (to catch typing slips such as SpO2 of 980 or
a negative heart rate), not clinical thresholds; the clinical thresholds live in screening and
monitoring with their sources.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Vitals(BaseModel):
    """Blood pressure, heart rate and oxygen saturation (contract 4.2 ``vitals``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systolic_mmhg: float = Field(ge=50, le=300, description="Systolic blood pressure, mmHg (allowed 50-300)")
    diastolic_mmhg: float = Field(ge=20, le=200, description="Diastolic blood pressure, mmHg (allowed 20-200)")
    heart_rate_bpm: float = Field(ge=20, le=250, description="Heart rate, beats per minute (allowed 20-250)")
    spo2_pct: float = Field(ge=50, le=100, description="Oxygen saturation by pulse oximetry, % (allowed 50-100)")

    @model_validator(mode="after")
    def _diastolic_below_systolic(self) -> Vitals:
        if self.diastolic_mmhg >= self.systolic_mmhg:
            raise ValueError(
                f"diastolic_mmhg ({self.diastolic_mmhg:g}) must be lower than systolic_mmhg ({self.systolic_mmhg:g}); "
                "were the two values swapped?"
            )
        return self
