"""One description of every clinical rule, so that the rule table in ``docs/clinical-rules.md``
is generated from the code and cannot drift from it.

Each clinical module (screening, dosing, monitoring, discharge, checklist, follow_up, outcomes)
exposes ``RULES: tuple[Rule, ...]`` describing the rules it applies; :func:`rule_catalog`
gathers them, and a test checks every source id resolves.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketaclinic.evidence.sources import ref


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
    """Every rule of every clinical module, in pathway order.

    The modules are imported here, not at the top, because each of them imports :class:`Rule` from
    this module; a test checks that every clinical module defining ``RULES`` is in this list."""
    from ketaclinic.clinical import (
        checklist,
        discharge,
        dosing,
        drug_library,
        follow_up,
        monitoring,
        outcomes,
        protocols,
        screening,
    )

    rules: list[Rule] = []
    for module in (screening, protocols, dosing, drug_library, checklist, monitoring, discharge, follow_up, outcomes):
        rules.extend(module.RULES)
    return rules
