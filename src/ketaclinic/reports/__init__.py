"""Printable documents: referral letters, the session record, the patient summary, the clinic outcome
report (PDF through :mod:`ketaclinic.reports.pdf`).

Pure builders: each takes a snapshot (:mod:`ketaclinic.reports.snapshots`) and returns the document.
Who may read a document, the queries, the audit entry and the clock belong to
:mod:`ketaclinic.services.documents`."""
