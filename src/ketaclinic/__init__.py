"""KetaClinic: decision support for low-dose ketamine infusion clinics treating chronic pain.

KetaClinic never replaces the clinician's judgement: every number it computes is a suggestion
with its source, for a clinician to check.
"""

__version__ = "0.1.0"
DISCLAIMER = (
    "Decision support only: KetaClinic does not replace the clinician's judgement. "
    "Check every number against the patient in front of you."
)
