"""How staff are named wherever a person reads the record: signatures, letters, the audit log, FHIR.

One function, so a letter, the session record and the audit log always name a user the same way:
"Full Name, CREDENTIALS" ("Ana Ruiz, MD") when the admin recorded them, the full name alone without
credentials, and the username when no full name is recorded yet (issue 12).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.records.users import User

#: What a missing or unknown user reads as.
NOBODY = "—"


def display_name(username: str, full_name: str | None, credentials: str | None) -> str:
    """"Full Name, MD"; the full name alone; or the username when no full name is recorded."""
    name = (full_name or "").strip()
    if not name:
        return username
    creds = (credentials or "").strip()
    return f"{name}, {creds}" if creds else name


def staff_names(uow: Session, ids: Iterable[int | None]) -> dict[int | None, str]:
    """User id → the name shown for that user; ``None`` (no user) reads "—"."""
    wanted = sorted({i for i in ids if i is not None})
    names: dict[int | None, str] = {None: NOBODY}
    if wanted:
        rows = uow.execute(select(User.id, User.username, User.full_name, User.credentials)
                               .where(User.id.in_(wanted))).all()
        names.update({uid: display_name(username, full, creds) for uid, username, full, creds in rows})
    return names

