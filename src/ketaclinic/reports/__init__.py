"""Printable documents: referral letters, the session record, the patient summary, the clinic outcome
report (PDF through :mod:`ketaclinic.reports.pdf`)."""
