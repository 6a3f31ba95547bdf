"""The clinic's own choices: numbers no published source sets, which the medical director signs off."""

from ketaclinic.evidence.sources import CLINIC_POLICY, Source

SOURCES = (
    Source(
        id=CLINIC_POLICY,
        authors="KetaClinic default clinic policy",
        year=None,
        title="Clinic policy: a number chosen by the clinic, not taken from a published source",
        journal="Configurable; to be reviewed and signed off by the clinic's medical director",
        kind="policy",
        checked="not_applicable",
        note="Marks every threshold or default that is a local choice. Change it in the clinic settings.",
    ),
)
