"""The clinic's research key: one random secret, made on the first research export and kept.

A patient's date shift in the de-identified research export is derived from this key
(:mod:`ketaclinic.interop.research`), so the shift is the same in every export. With a fresh
shift per export, a recipient who links a patient across exports by content (the same diary
values, doses, weights) could intersect the windows each shift allows and narrow the real dates
export after export; a fixed shift gives nothing new the second time.

The key never leaves the database: it is not exported, not written to the audit log, not shown
on any page, and the row's ``repr`` hides it. The table is append-only (a key changed after
exports were released would break that guarantee for the next export; losing the key only means
the next exports use new shifts). Made on first use rather than in the migration, so a database
restored from a template or copied for testing does not share the clinic's key by accident.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import LargeBinary, String, exc, select
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.clock import utcnow
from ketaclinic.records.db import Base, Database
from ketaclinic.records.mixins import AppendOnlyMixin

KEY_BYTES = 32
DATE_SHIFT = "date_shift"


class ResearchKey(AppendOnlyMixin, Base):
    __tablename__ = "research_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    def __repr__(self) -> str:
        return f"ResearchKey(id={self.id!r}, purpose={self.purpose!r}, secret=<hidden>)"


def _stored(db: Database, purpose: str) -> bytes | None:
    with db.reading() as uow:
        return uow.execute(select(ResearchKey.secret).where(ResearchKey.purpose == purpose)).scalar_one_or_none()


def research_key(db: Database, purpose: str = DATE_SHIFT) -> bytes:
    """The clinic's key for ``purpose``, made (32 random bytes) and stored the first time it is asked for.

    Two workers asking at once both try to insert; the unique ``purpose`` lets one win and the
    other reads the winner's key, so every export uses the same one.
    """
    key = _stored(db, purpose)
    if key is not None:
        return bytes(key)
    try:
        with db.transaction() as uow:
            uow.add(ResearchKey(purpose=purpose, secret=secrets.token_bytes(KEY_BYTES)))
    except exc.IntegrityError:
        pass  # another worker stored it first
    key = _stored(db, purpose)
    if key is None:  # pragma: no cover - the insert either succeeded or lost to another
        raise RuntimeError("the research key could not be stored")
    return bytes(key)
