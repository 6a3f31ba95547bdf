"""Pseudonyms and date shifts: a research id under the per-export secret, a shift of whole weeks
under the clinic's kept key."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ketaclinic.interop.research.rules import SECRET_BYTES, SHIFT_MAX_WEEKS


def new_secret() -> bytes:
    """A fresh secret for one export's research ids (kept in memory for the export only)."""
    return secrets.token_bytes(SECRET_BYTES)


class Keys:
    """A patient's research id (under the per-export secret) and date shift (under the clinic's key).

    Holds both secrets; never serialised, and its repr shows neither.
    """

    __slots__ = ("_secret", "_shift_key")

    def __init__(self, secret: bytes, shift_key: bytes):
        if len(secret) < 16 or len(shift_key) < 16:
            raise ValueError("the export secret and the clinic's key must each be at least 16 random bytes")
        if hmac.compare_digest(secret, shift_key):
            raise ValueError("the export secret must not be the clinic's key (ids would follow the shifts)")
        self._secret, self._shift_key = secret, shift_key

    def __repr__(self) -> str:
        return "Keys(<secret>, <clinic key>)"

    @staticmethod
    def _mac(key: bytes, purpose: str, patient_id: int) -> bytes:
        return hmac.new(key, f"{purpose}:{patient_id}".encode(), hashlib.sha256).digest()

    def research_id(self, patient_id: int) -> str:
        return "R" + self._mac(self._secret, "id", patient_id).hex()[:16]

    def shift_weeks(self, patient_id: int) -> int:
        """A whole number of weeks in −26…−1 or +1…+26 (never 0), uniform up to a 2⁻⁶⁴ bias."""
        n = int.from_bytes(self._mac(self._shift_key, "shift", patient_id)[:8], "big") % (2 * SHIFT_MAX_WEEKS)
        return n - SHIFT_MAX_WEEKS if n < SHIFT_MAX_WEEKS else n - SHIFT_MAX_WEEKS + 1

    def shift_days(self, patient_id: int) -> int:
        """The shift in days: always a multiple of 7, so a weekday stays the same weekday."""
        return 7 * self.shift_weeks(patient_id)
