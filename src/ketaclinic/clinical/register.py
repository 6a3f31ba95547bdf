"""The controlled-substance register's rules (design.md 4.8), pure: balances, corrections, verify, derivation.

The register is a book of entries; every balance is computed from them, never kept on its own.
Each entry moves mg between three kinds of place, all per lot:

- a storage **location** (the safe, a cabinet, a nurse's working stock),
- what is **drawn** for one session and not yet accounted for (dispensed, not yet administered,
  wasted or returned),
- the **lot total** in the clinic's custody (every location plus everything drawn).

| kind | location | drawn for the session | lot total |
|---|---|---|---|
| receipt | + | | + |
| dispense | − | + | |
| administer | | − | − |
| waste | | − | − |
| return (to stock, for a session) | + | − | |
| return (to the supplier) | − | | − |
| transfer | − from, + to | | |
| count | | | |
| adjustment | ± | | ± |
| loss | − | | − |

So a lot's total is receipts − administered − wasted − returned to the supplier ± adjustments − losses
(design 4.8; a return to stock only moves mg back from a session to a location). A correction is an
entry of the same kind naming the one it corrects: from then on it counts instead of the original
(the difference is applied), and the original stays in the book. No balance may go below zero.

Records kept per 21 CFR 1304.22(c) (``cfr_1304_22``), inventories per 1304.11 (``cfr_1304_11``),
losses per 1301.76(b) and DEA Form 106 (``cfr_1301_76``); see evidence/catalog/register.py.
Quantities are handled in tenths of a mg (integers), so sums never drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ketaclinic.clinical.record import as_corrected, corrections_by_event, rate_changes_given
from ketaclinic.evidence.sources import ref
from ketaclinic.pharmacology.regimen import KETAMINE_NAMES, MG_PER_UNIT, mg_as_given

SOURCES = {"records": ref("cfr_1304_22"), "inventory": ref("cfr_1304_11"), "loss": ref("cfr_1301_76"),
           "manual": ref("dea_practitioner_manual")}
CORRECTABLE = ("receipt", "dispense", "administer", "waste", "return", "transfer", "adjustment", "loss")
#: Every entry kind that needs a second person (who re-enters their password)
WITNESSED = ("waste", "count")


class RegisterError(ValueError):
    """An entry the register refuses; ``code`` is stable (the API's error code)."""

    def __init__(self, message: str, code: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


def tenths(mg: float) -> int:
    """mg → integer tenths of a mg (the register's resolution)."""
    return int(round(float(mg) * 10))


def mg(value: int) -> float:
    return round(value / 10, 1)


# --- DEA registration numbers ---------------------------------------------------------------

#: First letters of a DEA registration number (registrant types, DEA Practitioner's Manual); 9 may stand
#: as the second character for some registrants.
DEA_FIRST_LETTERS = "ABCDEFGHJKLMPRSTUX"


def dea_number_problem(number: str) -> str | None:
    """Why ``number`` is not a well-formed DEA registration number, or None.

    Two letters then seven digits; the seventh digit is the check digit: the units digit of
    (d1 + d3 + d5) + 2 × (d2 + d4 + d6). The check only catches typing slips: whether the number
    belongs to the supplier is checked against DEA's registrant validation, outside this program."""
    text = (number or "").strip().upper()
    if len(text) != 9 or not text[:2].isalnum() or not text[2:].isdigit():
        return "a DEA number is two letters and seven digits (for example AB1234563)"
    if text[0] not in DEA_FIRST_LETTERS or not (text[1].isalpha() or text[1] == "9"):
        return f"{text[:2]!r} does not start a DEA registration number"
    d = [int(c) for c in text[2:]]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    if check != d[6]:
        return f"the check digit of {text} is wrong (it should be {check}): a typing slip?"
    return None


def with_check_digit(prefix: str, six_digits: str) -> str:
    """A DEA number completed with its check digit (demo data, tests)."""
    d = [int(c) for c in six_digits]
    return f"{prefix}{six_digits}{(d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10}"


# --- entries and balances --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Line:
    """One register entry as the rules read it (copied out of the database)."""

    id: int
    kind: str
    lot_id: int
    amount_mg: float
    location_id: int | None = None
    to_location_id: int | None = None
    session_id: int | None = None
    corrects_id: int | None = None
    resolves_id: int | None = None
    recorded_by: int | None = None
    witness_id: int | None = None
    balance_after_mg: float | None = None
    location_balance_after_mg: float | None = None
    recorded_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


Key = tuple[Any, ...]


def effect(line: Line) -> dict[Key, int]:
    """What one entry adds (in tenths) to each place it touches (the table in the module docstring)."""
    a = tenths(line.amount_mg)
    lot = line.lot_id
    loc = ("loc", lot, line.location_id)
    drawn = ("drawn", line.session_id, lot)
    total = ("lot", lot)
    kind = line.kind
    if kind == "receipt" or kind == "adjustment":
        return {loc: a, total: a}
    if kind == "dispense":
        return {loc: -a, drawn: a}
    if kind in ("administer", "waste"):
        return {drawn: -a, total: -a}
    if kind == "return":
        return {drawn: -a, loc: a} if line.session_id is not None else {loc: -a, total: -a}
    if kind == "transfer":
        return {loc: -a, ("loc", lot, line.to_location_id): a}
    if kind == "loss":
        return {loc: -a, total: -a}
    return {}  # count


def _place_words(key: Key) -> str:
    if key[0] == "loc":
        return f"location {key[2]} (lot {key[1]})"
    if key[0] == "drawn":
        return f"what is drawn for session {key[1]} (lot {key[2]})"
    return f"lot {key[1]}"


class Ledger:
    """The running state of the register: apply entries in order; refuses what would go below zero."""

    def __init__(self) -> None:
        self.balances: dict[Key, int] = {}
        self.lines: dict[int, Line] = {}
        self.corrected: dict[int, int] = {}  # original id -> the id of the entry that now counts instead
        self.resolved: set[int] = set()

    def current(self, line_id: int) -> Line:
        """The entry that counts now in place of ``line_id`` (itself, or its latest correction)."""
        seen = self.lines[line_id]
        while seen.id in self.corrected:
            seen = self.lines[self.corrected[seen.id]]
        return seen

    def delta(self, line: Line) -> dict[Key, int]:
        change = dict(effect(line))
        if line.corrects_id is not None:
            original = self.earlier(line.corrects_id)
            if original is None:
                raise RegisterError(f"entry {line.id} corrects entry {line.corrects_id}, which is not in the register "
                                    "before it", "correction_target")
            corrected_by = self._corrected_by(original.id)
            if corrected_by is not None:
                raise RegisterError(f"entry {original.id} was already corrected (by entry "
                                    f"{corrected_by}): correct that one", "already_corrected")
            if original.kind != line.kind or original.kind not in CORRECTABLE:
                raise RegisterError(f"a correction of a {original.kind} entry is a {original.kind} entry",
                                    "correction_kind")
            same = (original.lot_id, original.location_id, original.to_location_id, original.session_id)
            if same != (line.lot_id, line.location_id, line.to_location_id, line.session_id):
                raise RegisterError("a correction keeps the lot, location and session of the entry it corrects",
                                    "correction_place")
            for key, value in effect(original).items():
                change[key] = change.get(key, 0) - value
        return change

    def check(self, line: Line) -> dict[Key, int]:
        """The balances ``line`` would leave behind (the touched ones); raises when one goes below zero."""
        after: dict[Key, int] = {}
        for key, value in self.delta(line).items():
            after[key] = self.balances.get(key, 0) + value
            if after[key] < 0:
                raise RegisterError(
                    f"{_place_words(key)} holds {mg(self.balances.get(key, 0)):g} mg: this entry would take it to "
                    f"{mg(after[key]):g} mg, and a register balance is never negative", "insufficient_stock")
        if line.kind in WITNESSED and (line.witness_id is None or line.witness_id == line.recorded_by):
            raise RegisterError(f"a {line.kind} needs a second person other than the one recording it",
                                "witness_required", "witness")
        if line.resolves_id is not None:
            target = self.earlier(line.resolves_id)
            if target is None or target.kind != "count":
                raise RegisterError("only a count discrepancy is resolved", "not_a_count")
            if self._is_resolved(line.resolves_id):
                raise RegisterError(f"the discrepancy of count {line.resolves_id} is already resolved",
                                    "already_resolved")
        return after

    def apply(self, line: Line) -> None:
        after = self.check(line)
        self.balances.update(after)
        self.lines[line.id] = line
        if line.corrects_id is not None:
            self.corrected[line.corrects_id] = line.id
        if line.resolves_id is not None:
            self.resolved.add(line.resolves_id)

    # -- the earlier entries a correction or a resolution names (kept here; see BoundedLedger) ---------

    def earlier(self, line_id: int) -> Line | None:
        """The entry ``line_id`` if it is already in the book (applied before the one being checked)."""
        return self.lines.get(line_id)

    def _corrected_by(self, line_id: int) -> int | None:
        return self.corrected.get(line_id)

    def _is_resolved(self, line_id: int) -> bool:
        return line_id in self.resolved

    # -- reading ------------------------------------------------------------------------------

    def lot_total_mg(self, lot_id: int) -> float:
        return mg(self.balances.get(("lot", lot_id), 0))

    def location_mg(self, lot_id: int, location_id: int | None) -> float:
        return mg(self.balances.get(("loc", lot_id, location_id), 0))

    def drawn_mg(self, session_id: int, lot_id: int) -> float:
        """What is drawn for a session from a lot and not yet administered, wasted or returned."""
        return mg(self.balances.get(("drawn", session_id, lot_id), 0))

    def location_items(self) -> list[tuple[int, int, float]]:
        """``(lot_id, location_id, balance_mg)`` of every location that ever held the lot."""
        return sorted((k[1], k[2], mg(v)) for k, v in self.balances.items() if k[0] == "loc")

    def effective(self) -> list[Line]:
        """The entries that count now (corrected originals left out), in book order."""
        return [line for line in self.lines.values() if line.id not in self.corrected]

    def open_discrepancies(self) -> list[Line]:
        return [line for line in self.lines.values() if line.kind == "count" and line.id not in self.resolved
                and tenths(line.details.get("discrepancy_mg", 0)) != 0]


def effective_lines(lines: Iterable[Line]) -> list[Line]:
    """The entries that count (a corrected entry gives way to its correction), in book order, without
    checking balances (a session's or a report's slice of the book)."""
    lines = sorted(lines, key=lambda x: x.id)
    corrected = {line.corrects_id for line in lines if line.corrects_id is not None}
    return [line for line in lines if line.id not in corrected]


def ledger_of(lines: Iterable[Line]) -> Ledger:
    ledger = Ledger()
    for line in sorted(lines, key=lambda x: x.id):
        ledger.apply(line)
    return ledger


def stored_balances(ledger: Ledger, line: Line) -> tuple[float, float | None]:
    """The running balances an entry records after it is applied: the lot total and its location's."""
    return ledger.lot_total_mg(line.lot_id), (ledger.location_mg(line.lot_id, line.location_id)
                                              if line.location_id is not None else None)


def formula_total_mg(lines: Iterable[Line], lot_id: int) -> float:
    """Design 4.8's balance of a lot, by kind: receipts − administered − wasted − returned (to the
    supplier) ± adjustments − losses, over the entries that count (corrections applied)."""
    return mg(sum(formula_tenths(line) for line in effective_lines(lines) if line.lot_id == lot_id))


def formula_tenths(line: Line) -> int:
    """What one entry adds to its lot's total by design 4.8's formula (tenths of a mg)."""
    a = tenths(line.amount_mg)
    if line.kind in ("receipt", "adjustment"):
        return a
    if line.kind in ("administer", "waste", "loss") or (line.kind == "return" and line.session_id is None):
        return -a
    return 0


@dataclass(frozen=True)
class Break:
    """The first thing ``register verify`` found wrong."""

    entry_id: int
    code: str
    message: str


def verify(lines: Sequence[Line]) -> Break | None:
    """Replay the book in order: every entry applies (no balance below zero, corrections and
    resolutions valid), every waste and count has a second person, every stored running balance is
    the one the entries give, and every lot's total equals design 4.8's formula. None: all good."""
    book = BookCheck()
    for line in sorted(lines, key=lambda x: x.id):
        book.add(line)
    return book.result()


@dataclass
class _LotTally:
    formula_tenths: int = 0  # design 4.8's formula over the lot's entries that count so far
    last_id: int = 0  # the lot's latest entry (a formula mismatch names it)


class BookCheck:
    """:func:`verify`, fed one entry at a time in book (id) order, so that ``register verify`` can stream
    a ledger of millions of lines through it in chunks. It keeps the ledger's balances and, per lot, the
    formula's running total and the latest entry's id; nothing per entry. The first break stops the
    checks, not the counting (``entries`` and ``lots`` count the whole book, as the report always has)."""

    def __init__(self, ledger: Ledger | None = None):
        self.ledger = Ledger() if ledger is None else ledger
        self.entries = 0
        self.first_break: Break | None = None
        self._lots: dict[int, _LotTally] = {}
        self._last_id: int | None = None

    @property
    def lots(self) -> int:
        return len(self._lots)

    def add(self, line: Line) -> None:
        """The next entry of the book; refuses one that is not after the previous (a replay out of order
        would name the wrong break, or none)."""
        if self._last_id is not None and line.id <= self._last_id:
            raise ValueError(f"register entries must come in id order: entry {line.id} after entry {self._last_id}")
        self._last_id = line.id
        self.entries += 1
        tally = self._lots.setdefault(line.lot_id, _LotTally())
        tally.last_id = line.id
        if self.first_break is not None:
            return
        self.first_break = self._check(line)
        if self.first_break is None:
            tally.formula_tenths += formula_tenths(line)
            if line.corrects_id is not None:  # the original gives way to its correction (checked valid above)
                original = self.ledger.earlier(line.corrects_id)
                assert original is not None
                tally.formula_tenths -= formula_tenths(original)

    def _check(self, line: Line) -> Break | None:
        try:
            self.ledger.apply(line)
        except RegisterError as error:
            return Break(line.id, error.code, f"entry {line.id} ({line.kind}): {error.message}")
        total, location = stored_balances(self.ledger, line)
        if line.balance_after_mg is not None and tenths(line.balance_after_mg) != tenths(total):
            return Break(line.id, "balance_mismatch",
                         f"entry {line.id} ({line.kind}) records a lot balance of {line.balance_after_mg:g} mg; the "
                         f"entries give {total:g} mg")
        if line.location_balance_after_mg is not None and location is not None \
                and tenths(line.location_balance_after_mg) != tenths(location):
            return Break(line.id, "balance_mismatch",
                         f"entry {line.id} ({line.kind}) records a location balance of "
                         f"{line.location_balance_after_mg:g} mg; the entries give {location:g} mg")
        if line.kind == "count" and tenths(line.details.get("expected_mg", location or 0)) != tenths(location or 0):
            return Break(line.id, "count_expected_mismatch",
                         f"count {line.id} says the book held {line.details.get('expected_mg')} mg; it held {location} mg")
        return None

    def stock_break(self, rows: Iterable[tuple[int, float, int]]) -> Break | None:
        """The stored balances now (``register_lot_stock``: lot id, balance in mg, the lot's last entry id; in
        lot-id order) against the replayed book: each must be the balance the entries give after the lot's
        latest entry, and every lot with entries must have one (the register pages list the lots in stock
        from these rows, so a wrong one hides stock, or shows stock that is gone)."""
        lots = iter(sorted(self._lots))
        for lot_id, balance_mg, last_entry_id in rows:
            for expected in lots:
                if expected == lot_id:
                    break
                if expected < lot_id:
                    return Break(self._lots[expected].last_id, "stock_mismatch",
                                 f"lot {expected} has entries but no stored balance")
                return Break(last_entry_id, "stock_mismatch", f"lot {lot_id} has a stored balance but no entries")
            else:
                return Break(last_entry_id, "stock_mismatch", f"lot {lot_id} has a stored balance but no entries")
            tally, book_mg = self._lots[lot_id], self.ledger.lot_total_mg(lot_id)
            if last_entry_id != tally.last_id or tenths(balance_mg) != tenths(book_mg):
                return Break(tally.last_id, "stock_mismatch",
                             f"lot {lot_id}'s stored balance is {balance_mg:g} mg after entry {last_entry_id}; the "
                             f"entries give {book_mg:g} mg after entry {tally.last_id}")
        for expected in lots:
            return Break(self._lots[expected].last_id, "stock_mismatch",
                         f"lot {expected} has entries but no stored balance")
        return None

    def result(self) -> Break | None:
        """The first break of the book, else the first lot (by id) whose total is not the formula's."""
        if self.first_break is not None:
            return self.first_break
        for lot_id in sorted(self._lots):
            tally = self._lots[lot_id]
            if tenths(mg(tally.formula_tenths)) != tenths(self.ledger.lot_total_mg(lot_id)):
                return Break(tally.last_id, "formula_mismatch",
                             f"lot {lot_id}: the balance is not receipts − administered − wasted − returned ± "
                             "adjustments − losses")
        return None


@dataclass(frozen=True)
class Earlier:
    """What a chunk of the book's corrections and resolutions need of other entries, read for the chunk:
    the entries they name, and for each named entry the lowest id of an entry correcting (resolving) it."""

    lines: Mapping[int, Line] = field(default_factory=dict)
    first_correction: Mapping[int, int] = field(default_factory=dict)
    first_resolution: Mapping[int, int] = field(default_factory=dict)


class BoundedLedger(Ledger):
    """A :class:`Ledger` that keeps balances only, for replaying a whole book in bounded memory (``register
    verify``). Balances are per lot and location, and per session and lot while something is drawn: one
    back at zero is dropped, which reads the same (an absent balance is 0). The entries are not kept: what a
    correction or a resolution needs of an earlier one comes from :attr:`known`, filled by the caller for
    each chunk before applying it. An entry there counts as already in the book only if its id is below the
    one being applied — exactly the entries a :class:`Ledger` would hold, since a replay applies every entry
    in id order and stops at the first it refuses (so of several entries correcting, or resolving, the same
    one, only the lowest id was ever applied: that is the one ``known`` names)."""

    def __init__(self) -> None:
        super().__init__()
        self.known = Earlier()
        self._applying = 0

    def apply(self, line: Line) -> None:
        self._applying = line.id
        after = self.check(line)
        self.balances.update(after)
        for key, value in after.items():
            if value == 0 and key[0] == "drawn":
                del self.balances[key]

    def earlier(self, line_id: int) -> Line | None:
        found = self.known.lines.get(line_id)
        return found if found is not None and found.id < self._applying else None

    def _corrected_by(self, line_id: int) -> int | None:
        by = self.known.first_correction.get(line_id)
        return by if by is not None and by < self._applying else None

    def _is_resolved(self, line_id: int) -> bool:
        by = self.known.first_resolution.get(line_id)
        return by is not None and by < self._applying


# --- what a session used ----------------------------------------------------------------------


def drug_given_mg(drug: str, pump_program: Mapping[str, Any] | None, events: Sequence[Any],
                  started_at: datetime | None, ended_at: datetime | None) -> float:
    """What a session actually gave of ``drug``, to 0.1 mg, from its record (amendments applied).

    Ketamine: the pump program as it ran (the nurse's rate changes, nothing after the stop:
    :func:`ketaclinic.pharmacology.regimen.mg_as_given`, the figure every document states) plus every
    extra dose recorded as a ``medication`` event. Any other drug (midazolam ...): the ``medication``
    events that name it, in mg. ``events`` are stored events or :class:`~ketaclinic.clinical.record.EventRow`."""
    events = list(events)
    fixes = corrections_by_event(events)
    name = drug.strip().lower()
    names = KETAMINE_NAMES if name == "ketamine" else (name,)
    total = 0.0
    if name == "ketamine":
        steps = list((pump_program or {}).get("program") or [])
        if steps and started_at is not None:
            stopped = None if ended_at is None else max(0.0, (ended_at - started_at).total_seconds() / 60)
            total += mg_as_given(steps, rate_changes_given(events), stopped)
    for event in events:
        if event.kind != "medication":
            continue
        given = as_corrected(event, fixes)
        if str(given.get("drug", "")).strip().lower() not in names or given.get("status") == "not_given":
            continue
        if name == "ketamine" and given.get("route") != "iv":
            continue
        factor = MG_PER_UNIT.get(str(given.get("unit", "mg")))
        if factor is not None and given.get("dose") is not None:
            total += float(given["dose"]) * factor
    return round(total, 1)


def allocate(amount_mg: float, outstanding: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Share ``amount_mg`` among the lots drawn for a session, first drawn first: ``[(lot_id, mg)]``.
    Raises ``administered_exceeds_drawn`` when more was given than was drawn."""
    left = tenths(amount_mg)
    out: list[tuple[int, float]] = []
    for lot_id, available in outstanding:
        take = min(left, tenths(available))
        if take > 0:
            out.append((lot_id, mg(take)))
            left -= take
    if left > 0:
        raise RegisterError(f"the session gave {amount_mg:g} mg but only "
                            f"{mg(sum(tenths(a) for _, a in outstanding)):g} mg was drawn for it: record the "
                            "dispense of what was drawn first", "administered_exceeds_drawn", "session_id")
    return out


@dataclass(frozen=True)
class Reconciliation:
    """One drug of one session: drawn = administered + wasted + returned, and the record agrees."""

    drug: str
    dispensed_mg: float
    administered_mg: float
    wasted_mg: float
    returned_mg: float
    derived_mg: float  # what the session's record says was given

    @property
    def outstanding_mg(self) -> float:
        return mg(tenths(self.dispensed_mg) - tenths(self.administered_mg) - tenths(self.wasted_mg)
                  - tenths(self.returned_mg))

    @property
    def reconciled(self) -> bool:
        return tenths(self.outstanding_mg) == 0 and tenths(self.administered_mg) == tenths(self.derived_mg)

    def problem(self) -> str | None:
        if tenths(self.administered_mg) != tenths(self.derived_mg):
            return (f"{self.drug}: the session's record gives {self.derived_mg:g} mg, the register's administration "
                    f"says {self.administered_mg:g} mg: record the administration again")
        if tenths(self.outstanding_mg) != 0:
            return (f"{self.drug}: {self.dispensed_mg:g} mg drawn, {self.administered_mg:g} mg given, "
                    f"{self.wasted_mg:g} mg wasted, {self.returned_mg:g} mg returned: {self.outstanding_mg:g} mg "
                    "unaccounted for (waste it with a witness or return it)")
        return None


def reconcile(drug: str, lines: Iterable[Line], derived_mg: float) -> Reconciliation:
    """The reconciliation of one drug of one session from its register entries (corrections applied)."""
    sums = {"dispense": 0, "administer": 0, "waste": 0, "return": 0}
    for line in effective_lines(lines):
        if line.kind in sums and line.session_id is not None:
            sums[line.kind] += tenths(line.amount_mg)
    return Reconciliation(drug, mg(sums["dispense"]), mg(sums["administer"]), mg(sums["waste"]), mg(sums["return"]),
                          round(derived_mg, 1))
