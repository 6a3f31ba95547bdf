"""How staff are named wherever a person reads the record: signatures, letters, the audit log, FHIR.

One function, so a letter, the session record and the audit log always name a user the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.records.users import User

#: What a missing or unknown user reads as.
NOBODY = "—"


def staff_names(session: Session, ids: Iterable[int | None]) -> dict[int | None, str]:
    """User id → the name shown for that user; ``None`` (no user) reads "—"."""
    wanted = sorted({i for i in ids if i is not None})
    names: dict[int | None, str] = {None: NOBODY}
    if wanted:
        names.update(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).tuples().all())
    return names
