"""Every adjunct given reaches the session record and the course letter (issue 14; pure)."""

from __future__ import annotations

from ketaclinic.clinical.record import EventRow
from ketaclinic.reports.letters import _adjuncts_text
from ketaclinic.reports.session_facts import _text as event_text
from ketaclinic.reports.session_facts import adjuncts_given

PRN = {"drug": "ondansetron", "dose": 4.0, "unit": "mg", "route": "iv", "prn_order_id": 7,
       "prn": {"number": 1, "of_max": 2, "session_total_mg": 4.0}, "reason": "PRN order #7: nausea or vomiting"}


def test_adjuncts_are_every_non_ketamine_dose_as_corrected():
    events = [
        EventRow(id=1, kind="medication", payload=PRN),
        EventRow(id=2, kind="medication", payload={"drug": "ketamine", "dose": 10, "unit": "mg", "route": "iv",
                                                   "lot_number": "K"}),
        EventRow(id=3, kind="medication", payload={"drug": "midazolam", "dose": 2, "unit": "mg", "route": "iv",
                                                   "lot_number": "M"}),
        EventRow(id=4, kind="amendment", amends_event_id=3, payload={"amended_kind": "medication",
                                                                     "correction": {"dose": 1}, "reason": "typo"}),
    ]
    assert adjuncts_given(events) == ["ondansetron 4 mg IV (PRN)", "midazolam 1 mg IV"]


def test_a_prn_dose_reads_with_its_order_and_no_empty_lot():
    text = event_text(EventRow(id=1, kind="medication", payload=PRN), {})
    assert text == "ondansetron 4 mg IV · PRN dose 1 of 2 · reason: PRN order #7: nausea or vomiting"
    assert "lot None" not in text


def test_the_course_letter_counts_each_adjunct():
    assert _adjuncts_text(["ondansetron 4 mg IV (PRN)", "ondansetron 4 mg IV", "labetalol 20 mg IV (PRN)"]) == \
        "; other medicines: ondansetron 4 mg IV ×2, labetalol 20 mg IV"
    assert _adjuncts_text([]) == ""
