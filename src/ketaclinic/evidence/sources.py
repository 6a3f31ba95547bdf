"""The registry of every source KetaClinic cites.

Every model parameter, clinical rule, dose limit and alert names a source id from this
registry, or the id ``clinic_policy`` when the number is the clinic's own choice. Ids are
checked when a rule is defined (:func:`ref` raises at import time), and a test walks every
registry of rules to make sure nothing points to a missing source.

Sources are kept in small catalogue modules under ``evidence/catalog/`` (one per domain, so
that each can grow without stepping on the others); this module gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

SourceKind = Literal[
    "guideline", "trial", "study", "pk_model", "review", "label", "textbook", "seed", "policy", "standard", "other"
]
Checked = Literal["source_text", "abstract", "secondary", "code", "unverified", "not_applicable"]


@dataclass(frozen=True)
class Source:
    """One citable source.

    ``checked`` says how far the numbers we take from it were checked: against the source
    text, only its abstract, a secondary reproduction, another tool's source code, or not at
    all (``unverified``: the number must not be relied on until checked).
    """

    id: str
    authors: str
    year: int | None
    title: str
    journal: str
    kind: SourceKind
    checked: Checked
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    note: str = ""

    def citation(self) -> str:
        """A one-line human citation (authors, year, title, journal, DOI or PMID)."""
        parts = [f"{self.authors} ({self.year})" if self.year else self.authors, self.title, self.journal]
        if self.doi:
            parts.append(f"doi:{self.doi}")
        elif self.pmid:
            parts.append(f"PMID {self.pmid}")
        elif self.url:
            parts.append(self.url)
        return ". ".join(p.rstrip(".") for p in parts if p) + "."


class UnknownSourceError(KeyError):
    """A rule or parameter names a source id that is not in the registry."""


CLINIC_POLICY = "clinic_policy"


@cache
def all_sources() -> dict[str, Source]:
    """Every registered source by id, gathered from the ``evidence.catalog`` modules.

    Each catalogue module exposes ``SOURCES: tuple[Source, ...]``. Duplicate ids are an error. The
    modules are imported here, not at the top, because each of them imports :class:`Source` from this
    module; a new catalogue module is added to this list (a test checks none is left out).
    """
    from ketaclinic.evidence.catalog import (
        billing,
        core,
        dosing,
        medication_record,
        monitoring,
        pharmacology,
        policy,
        questionnaires,
        register,
        schedule,
        screening,
    )

    found: dict[str, Source] = {}
    for module in (core, dosing, monitoring, pharmacology, policy, screening, medication_record, questionnaires, billing, schedule, register):
        for source in module.SOURCES:
            if source.id in found:
                raise ValueError(f"source id {source.id!r} is defined twice (again in {module.__name__})")
            found[source.id] = source
    return found


def get_source(source_id: str) -> Source:
    """The source with this id; raises :class:`UnknownSourceError` naming the id if absent."""
    try:
        return all_sources()[source_id]
    except KeyError:
        raise UnknownSourceError(f"unknown evidence source id {source_id!r}") from None


def ref(source_id: str) -> str:
    """Check that ``source_id`` is registered and return it.

    Use it wherever code cites a source (``source=ref("domino1984")``) so a typo fails at
    import time instead of printing a dangling citation to a clinician.
    """
    get_source(source_id)
    return source_id
