"""One description of every clinical rule, so that the rule table in ``docs/clinical-rules.md``
is generated from the code and cannot drift from it.

Each clinical module (screening, dosing, monitoring, discharge, checklist, follow_up, outcomes)
exposes ``RULES: tuple[Rule, ...]`` describing the rules it applies; :func:`rule_catalog`
gathers them, and a test checks every source id resolves.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ketaclinic.evidence.sources import ref

RULE_MODULES = (
    "screening",
    "protocols",
    "dosing",
    "checklist",
    "monitoring",
    "discharge",
    "follow_up",
    "outcomes",
)


@dataclass(frozen=True)
class Rule:
    """A clinical rule as a clinician reads it: when it fires, what follows, and on whose authority."""

    code: str
    domain: str
    kind: str
    threshold: str
    action: str
    source: str
    grade: str | None = None

    def __post_init__(self) -> None:
        ref(self.source)


def rule_catalog() -> list[Rule]:
    """Every rule of every clinical module that exists, in module order."""
    rules: list[Rule] = []
    for name in RULE_MODULES:
        try:
            module = importlib.import_module(f"ketaclinic.clinical.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ketaclinic.clinical.{name}":
                continue
            raise
        rules.extend(getattr(module, "RULES", ()))
    return rules
