"""The one amendment rule every reader of the session record applies (clinical/record.py)."""

import dataclasses

import pytest

from ketaclinic.clinical.record import EventRow, as_corrected, corrections_by_event, rate_changes_given


def _amend(event_id: int, target: int, **fix: object) -> EventRow:
    return EventRow(id=event_id, kind="amendment", payload={"reason": "typo", "correction": fix},
                    amends_event_id=target)


def test_amendments_merge_field_by_field_in_recording_order() -> None:
    events = [EventRow(id=1, kind="side_effect", payload={"code": "nausea", "severity": "severe"}),
              _amend(3, 1, severity="mild"), _amend(2, 1, code="dizziness", severity="moderate")]
    fixes = corrections_by_event(events)
    # id 2 was recorded first, id 3 later: the later severity wins, the earlier code stays
    assert fixes == {1: {"code": "dizziness", "severity": "mild"}}
    assert as_corrected(events[0], fixes) == {"code": "dizziness", "severity": "mild"}


def test_rate_changes_are_read_as_corrected_and_in_recording_order() -> None:
    events = [EventRow(id=5, kind="rate_change", minute=30.0, payload={"rate_mg_per_h": 40.0}),
              EventRow(id=4, kind="rate_change", minute=10.0, payload={"rate_mg_per_h": 20.0}),
              EventRow(id=6, kind="rate_change", minute=None, payload={}),
              _amend(7, 5, rate_mg_per_h=4.0)]
    assert rate_changes_given(events) == [(10.0, 20.0), (30.0, 4.0)]


def test_an_event_row_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        EventRow(1, "note")  # type: ignore[misc]
    row = EventRow(id=1, kind="note")
    assert dataclasses.replace(row, minute=2.0).minute == 2.0 and row.payload == {}
