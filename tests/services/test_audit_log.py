"""The audit log in words (issue 12): every action the services write has plain words, and an unknown one
still reads as words, never a raw key."""

from __future__ import annotations

import ast
from pathlib import Path

from ketaclinic.services.audit_log import ACTION_WORDS, EVENT_WORDS, action_words

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"


def _written_actions() -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "audit" \
                    and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                found.add(node.args[2].value)
    return found


def test_every_written_action_has_words():
    written = _written_actions()
    assert len(written) > 50
    events = {f"session.event.{kind}" for kind in EVENT_WORDS}
    assert sorted(written - set(ACTION_WORDS) - events) == []


def test_session_events_and_unknown_actions_read_as_words():
    assert action_words("session.event.vitals") == "Recorded vital signs"
    assert action_words("session.event.oxygen_started") == "Recorded a session event: oxygen started"
    assert action_words("stock.count_done") == "Stock count done"
    assert action_words("invitation.refused").startswith("Portal invitation refused")
