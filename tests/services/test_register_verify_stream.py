"""``register verify`` streams the book in bounded chunks (keyset on the id) and finds exactly what it found
when it read the whole ledger at once: on a book of several lots at two sites, untouched and with an entry
made inconsistent across a chunk boundary, every chunk size gives the answer of the whole-book replay
(kept here as the oracle, as it was before streaming); no statement reads the register entries without a
bound; and every chunk is read from one snapshot while others keep writing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select, text

from ketaclinic.clinical import register as core
from ketaclinic.records.audit import AuditEntry
from ketaclinic.records.register import RegisterEntry, RegisterLot, RegisterLotStock
from ketaclinic.services import register as rg
from ketaclinic.services import sites as st
from ketaclinic.services.context import Actor
from tests.interop.flows import T0
from tests.services.test_register import SUPPLIER_DEA, stopped_session
from tests.statements import recorded_statements

CHUNKS = (1, 2, 3, 4, 5, rg.VERIFY_CHUNK_ROWS)
TINY = 3


# --- the oracle: register verify as it was before it streamed (the whole book in memory) ----------------


def _replay_whole_book(lines: list[core.Line]) -> core.Break | None:
    """clinical.register.verify before BookCheck: one Ledger holding every entry, then the formula per lot."""
    ledger = core.Ledger()
    lines = sorted(lines, key=lambda x: x.id)
    for line in lines:
        try:
            ledger.apply(line)
        except core.RegisterError as error:
            return core.Break(line.id, error.code, f"entry {line.id} ({line.kind}): {error.message}")
        total, location = core.stored_balances(ledger, line)
        if line.balance_after_mg is not None and core.tenths(line.balance_after_mg) != core.tenths(total):
            return core.Break(line.id, "balance_mismatch",
                              f"entry {line.id} ({line.kind}) records a lot balance of {line.balance_after_mg:g} mg; "
                              f"the entries give {total:g} mg")
        if line.location_balance_after_mg is not None and location is not None \
                and core.tenths(line.location_balance_after_mg) != core.tenths(location):
            return core.Break(line.id, "balance_mismatch",
                              f"entry {line.id} ({line.kind}) records a location balance of "
                              f"{line.location_balance_after_mg:g} mg; the entries give {location:g} mg")
        if line.kind == "count" and core.tenths(line.details.get("expected_mg", location or 0)) \
                != core.tenths(location or 0):
            return core.Break(line.id, "count_expected_mismatch",
                              f"count {line.id} says the book held {line.details.get('expected_mg')} mg; "
                              f"it held {location} mg")
    by_lot: dict[int, list[core.Line]] = {}
    for line in lines:
        by_lot.setdefault(line.lot_id, []).append(line)
    for lot_id, lot_lines in sorted(by_lot.items()):
        if core.tenths(core.formula_total_mg(lot_lines, lot_id)) != core.tenths(ledger.lot_total_mg(lot_id)):
            return core.Break(lot_lines[-1].id, "formula_mismatch",
                              f"lot {lot_id}: the balance is not receipts − administered − wasted − returned ± "
                              "adjustments − losses")
    return None


def _verify_as_before(db) -> dict:
    """services.register.verify_register before streaming: every entry and every audited id in memory."""
    with db.reading() as uow:
        lines = [rg._line(r) for r in uow.execute(select(RegisterEntry).order_by(RegisterEntry.id)).scalars().all()]
        audited = set(uow.execute(select(AuditEntry.record_id).where(
            AuditEntry.record_type == "register_entry", AuditEntry.action.like("register.%"))).scalars())
        loaded = rg._bulk_loaded(uow)
    found = _replay_whole_book(lines)
    if found is None:
        lows = [low for low, _ in loaded]
        missing = next((line for line in lines if str(line.id) not in audited
                        and not rg._in_ranges(loaded, lows, line.id)), None)
        if missing is not None:
            found = core.Break(missing.id, "not_audited", f"entry {missing.id} ({missing.kind}) has no audit entry")
    return rg.VerifyResult(ok=found is None, entries=len(lines), lots=len({line.lot_id for line in lines}),
                           first_break=None if found is None else {"entry_id": found.entry_id, "code": found.code,
                                                                    "message": found.message}).model_dump()


# --- a book of several lots at two sites -------------------------------------------------------------


@dataclass
class Book:
    ids: list[int]  # every entry, in book order
    dispense: int
    waste: int
    transfer: int
    count: int
    adjustment: int  # resolves the count
    correction: int  # corrects the midazolam receipt
    corrected: int  # the midazolam receipt
    north_receipt: int


def _receive(db, actor, location_id: int, product_id: int, lot: str, vials: int, days_ago: int) -> rg.EntryView:
    return rg.record_receipt(db, actor, rg.ReceiptIn(
        location_id=location_id, product_id=product_id, lot_number=lot, expiry_date=date(2027, 6, 30), vials=vials,
        supplier="Synthetic Wholesale", supplier_dea_number=SUPPLIER_DEA, invoice=f"INV-{lot}"),
        now=T0 - timedelta(days=days_ago))


def build_book(db, clinic) -> Book:
    """Two sites (the default and North), three lots (ketamine and midazolam at the default site, ketamine
    at North), interleaved: receipts, a transfer, a session's draw, administration and witnessed waste, a
    count with a discrepancy and its resolution, a correction, a loss, a return to the supplier."""
    admin, physician, nurse = (clinic.actors[r] for r in ("admin", "physician", "nurse"))
    main = admin.site_ids[0]
    north = st.create_site(db, admin, st.SiteIn(name="North", code="NORTH")).id
    office = Actor(user_id=physician.user_id, username="physician", role="physician", site_ids=(main, north))
    witness = Actor(user_id=admin.user_id, username="admin", role="admin", site_ids=(main, north))
    products = rg.list_products(db, admin)
    ketamine = next(p for p in products if p.drug == "ketamine" and p.strength_mg_per_ml == 50)
    midazolam = next(p for p in products if p.drug == "midazolam")
    safe = rg.add_location(db, admin, rg.LocationIn(site_id=main, name="Safe", kind="safe"))
    cabinet = rg.add_location(db, admin, rg.LocationIn(site_id=main, name="Cabinet", kind="cabinet"))
    north_safe = rg.add_location(db, witness, rg.LocationIn(site_id=north, name="North safe", kind="safe"))

    ket = _receive(db, physician, safe.id, ketamine.id, "SYN-KET-A1", 2, 5)
    north_ket = _receive(db, office, north_safe.id, ketamine.id, "SYN-KET-N1", 3, 5)
    mid = _receive(db, physician, safe.id, midazolam.id, "SYN-MID-B1", 4, 4)
    moved = rg.transfer(db, nurse, rg.TransferIn(lot_id=ket.lot_id, location_id=safe.id, to_location_id=cabinet.id,
                                                 amount_mg=500, vials=1))
    rg.record_loss(db, office, rg.LossIn(lot_id=north_ket.lot_id, location_id=north_safe.id, amount_mg=100,
                                         loss_type="lost_in_transit", discovered_at=T0 - timedelta(days=2),
                                         description="a vial missing from the delivery"))
    visit = stopped_session(db, clinic, cabinet, ket, draw_mg=200.0)  # the dispense
    counted = rg.record_count(db, nurse, rg.CountIn(location_id=safe.id, lines=[
        {"lot_id": ket.lot_id, "counted_mg": 450}]), witness=witness)[0]
    fixed = rg.correct_entry(db, physician, mid.id, rg.CorrectionIn(amount_mg=20, reason="two ampoules, not four"))
    wasted = rg.waste(db, nurse, rg.WasteIn(session_id=visit.id), witness=physician)  # administer, then waste
    resolved = rg.resolve_discrepancy(db, physician, counted.id, rg.ResolveIn(reason="a vial dropped: 50 mg lost"))
    rg.return_stock(db, office, rg.ReturnIn(lot_id=north_ket.lot_id, location_id=north_safe.id, amount_mg=400,
                                            reason="recalled lot", recipient="Synthetic Wholesale",
                                            recipient_dea_number=SUPPLIER_DEA))
    with db.reading() as uow:
        ids = list(uow.execute(select(RegisterEntry.id).order_by(RegisterEntry.id)).scalars())
        dispense = uow.execute(select(RegisterEntry.id).where(RegisterEntry.kind == "dispense")).scalar_one()
    return Book(ids=ids, dispense=dispense, waste=next(e.id for e in wasted if e.kind == "waste"),
                transfer=moved.id, count=counted.id, adjustment=resolved.id, correction=fixed.id, corrected=mid.id,
                north_receipt=north_ket.id)


def _unguarded(db) -> None:
    """Someone edits the book around the application: the append-only trigger dropped first."""
    drop = {"sqlite": "DROP TRIGGER register_entries_no_update",
            "postgresql": "DROP TRIGGER register_entries_append_only ON register_entries"}[db.dialect]
    with db.transaction() as uow:
        uow.execute(text(drop))


def _edit(db, entry_id: int, assignments: str) -> None:
    with db.transaction() as uow:
        uow.execute(text(f"UPDATE register_entries SET {assignments} WHERE id = :id"), {"id": entry_id})


def _chunk_of(book: Book, entry_id: int, chunk_rows: int = TINY) -> int:
    return book.ids.index(entry_id) // chunk_rows


def _unaudited_receipt_then_more(db, clinic, book: Book) -> tuple[int, int]:
    """A receipt written around the application (no audit entry), then a loss through the services after it:
    (the receipt's id, the loss's id)."""
    with db.transaction() as uow:
        last = uow.execute(text("SELECT site_id, product_id, lot_id, location_id, balance_after_mg, "
                                "location_balance_after_mg FROM register_entries WHERE id = :id"),
                           {"id": book.dispense}).one()
        total = uow.execute(text("SELECT balance_after_mg FROM register_entries WHERE lot_id = :lot "
                                 "ORDER BY id DESC LIMIT 1"), {"lot": last.lot_id}).scalar_one()
        place = uow.execute(text("SELECT location_balance_after_mg FROM register_entries WHERE lot_id = :lot "
                                 "AND location_id = :place ORDER BY id DESC LIMIT 1"),
                            {"lot": last.lot_id, "place": last.location_id}).scalar_one()
        receipt = uow.execute(text(
            "INSERT INTO register_entries (site_id, kind, product_id, lot_id, location_id, amount_mg, balance_after_mg, "
            "location_balance_after_mg, recorded_at, recorded_by, details, created_at) VALUES (:site, 'receipt', "
            ":product, :lot, :place, 10, :total, :at_place, :at, NULL, '{}', :at) RETURNING id"),
            {"site": last.site_id, "product": last.product_id, "lot": last.lot_id, "place": last.location_id,
             "total": total + 10, "at_place": place + 10, "at": T0}).scalar_one()
    loss = rg.record_loss(db, clinic.actors["physician"], rg.LossIn(
        lot_id=last.lot_id, location_id=last.location_id, amount_mg=5, loss_type="loss_unexplained",
        discovered_at=T0, description="short at the count"))
    return receipt, loss.id


# --- the tests ---------------------------------------------------------------------------------------


def _streamed(db, admin) -> dict[int, dict]:
    return {size: rg.verify_register(db, admin, chunk_rows=size).model_dump() for size in CHUNKS}


def test_every_chunk_size_gives_the_whole_book_answer_on_a_sound_book(db, clinic):
    book = build_book(db, clinic)
    # the book's dependencies cross chunk boundaries at the tiny size
    assert _chunk_of(book, book.dispense) < _chunk_of(book, book.waste)
    assert _chunk_of(book, book.count) < _chunk_of(book, book.adjustment)
    expected = _verify_as_before(db)
    assert expected == {"ok": True, "entries": len(book.ids), "lots": 3, "first_break": None}
    assert _streamed(db, clinic.actors["admin"]) == dict.fromkeys(CHUNKS, expected)


TAMPERING = {
    # the waste of a draw made two chunks before: more than what is drawn for the session
    "waste_over_the_draw": (lambda b: b.waste, "amount_mg = 900", "insufficient_stock"),
    # a running balance that is not the one the entries before it (in earlier chunks) give
    "stored_balance": (lambda b: b.waste, "balance_after_mg = balance_after_mg + 1", "balance_mismatch"),
    # a correction naming an entry of another kind, chunks before it
    "correction_of_another_kind": (lambda b: b.correction, "corrects_id = {transfer}", "correction_kind"),
    # a correction naming an entry after it
    "correction_of_a_later_entry": (lambda b: b.correction, "corrects_id = {last}", "correction_target"),
    # a resolution naming an entry that is not a count
    "resolution_of_a_receipt": (lambda b: b.adjustment, "resolves_id = {north_receipt}", "not_a_count"),
    # the count's expected mg, the book held by the entries before it
    "count_expectation": (lambda b: b.count, "details = '{{\"expected_mg\": 1, \"counted_mg\": 450, "
                          "\"discrepancy_mg\": -50}}'", "count_expected_mismatch"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_an_entry_made_inconsistent_across_a_chunk_boundary_is_named_at_every_chunk_size(db, clinic, how):
    book = build_book(db, clinic)
    pick, assignments, code = TAMPERING[how]
    target = pick(book)
    _unguarded(db)
    _edit(db, target, assignments.format(transfer=book.transfer, last=book.ids[-1], north_receipt=book.north_receipt))
    expected = _verify_as_before(db)
    assert not expected["ok"] and expected["first_break"]["entry_id"] == target
    assert expected["first_break"]["code"] == code, expected
    assert _chunk_of(book, target) > 0  # what it is checked against was read in an earlier chunk
    assert _streamed(db, clinic.actors["admin"]) == dict.fromkeys(CHUNKS, expected)


def test_an_unaudited_entry_is_named_unless_a_later_entry_breaks_the_book(db, clinic):
    """The not-audited finding comes after the replay's: an earlier unaudited entry gives way to a later break."""
    book = build_book(db, clinic)
    receipt, loss = _unaudited_receipt_then_more(db, clinic, book)
    expected = _verify_as_before(db)
    assert expected["first_break"]["code"] == "not_audited" and expected["first_break"]["entry_id"] == receipt
    assert _streamed(db, clinic.actors["admin"]) == dict.fromkeys(CHUNKS, expected)
    _unguarded(db)
    _edit(db, loss, "balance_after_mg = balance_after_mg + 1")
    expected = _verify_as_before(db)
    assert expected["first_break"]["code"] == "balance_mismatch" and expected["first_break"]["entry_id"] == loss
    assert _streamed(db, clinic.actors["admin"]) == dict.fromkeys(CHUNKS, expected)


@pytest.mark.parametrize("engine", ["postgresql"])  # SQLite cannot drop a table's UNIQUE constraint in place
@pytest.mark.parametrize("twice", ["corrected", "resolved"])
def test_an_entry_corrected_or_resolved_again_chunks_later_is_named(db, clinic, engine, twice):
    """With the database's one-correction (one-resolution) constraint dropped, a later entry naming an entry
    already corrected (a count already resolved) in an earlier chunk: verify names it, at every chunk size."""
    book = build_book(db, clinic)
    physician = clinic.actors["physician"]
    if twice == "corrected":  # a correction of the correction, then made to name the original again
        later = rg.correct_entry(db, physician, book.correction, rg.CorrectionIn(amount_mg=30, reason="three")).id
        assignments, code = f"corrects_id = {book.corrected}", "already_corrected"
    else:  # an adjustment of the counted lot, then made to resolve the count again
        with db.reading() as uow:
            counted = uow.get(RegisterEntry, book.count)
        later = rg.record_adjustment(db, physician, rg.AdjustmentIn(
            lot_id=counted.lot_id, location_id=counted.location_id, amount_mg=1, reason="found in the drawer")).id
        assignments, code = f"resolves_id = {book.count}", "already_resolved"
    with db.transaction() as uow:
        uow.execute(text(f"ALTER TABLE register_entries DROP CONSTRAINT uq_register_entries_{assignments[:11]}"))
    _unguarded(db)
    _edit(db, later, assignments)
    expected = _verify_as_before(db)
    assert expected["first_break"]["code"] == code and expected["first_break"]["entry_id"] == later, expected
    assert _streamed(db, clinic.actors["admin"]) == dict.fromkeys(CHUNKS, expected)


@pytest.mark.parametrize("tamper", ["balance", "last_entry", "missing", "stray"])
def test_a_stored_lot_balance_that_is_not_the_books_is_named(db, clinic, tamper):
    """The register pages list the lots in stock from ``register_lot_stock``; verify checks each row against
    the replayed book at every chunk size: a wrong balance, a row behind the lot's latest entry, a lot with
    entries but no row, a row for a lot without entries."""
    build_book(db, clinic)
    admin = clinic.actors["admin"]
    assert rg.verify_register(db, admin).ok
    with db.transaction() as uow:
        rows = uow.execute(select(RegisterLotStock).order_by(RegisterLotStock.lot_id)).scalars().all()
        first = rows[0]
        lot_id = first.lot_id
        if tamper == "balance":
            first.balance_mg += 10
        elif tamper == "last_entry":
            first.last_entry_id = uow.execute(select(RegisterEntry.id).where(RegisterEntry.lot_id == lot_id)
                                              .order_by(RegisterEntry.id)).scalars().first()
        elif tamper == "missing":
            uow.delete(first)
        else:
            lot = uow.get(RegisterLot, rows[-1].lot_id)
            stray = RegisterLot(site_id=lot.site_id, product_id=lot.product_id, lot_number="SYN-STRAY-1",
                                expiry_date=lot.expiry_date)
            uow.add(stray)
            uow.flush()
            lot_id = stray.id
            uow.add(RegisterLotStock(lot_id=stray.id, site_id=lot.site_id, balance_mg=50.0,
                                     last_entry_id=rows[-1].last_entry_id))
    for chunk in CHUNKS:
        found = rg.verify_register(db, admin, chunk_rows=chunk).first_break
        assert found and found["code"] == "stock_mismatch" and f"lot {lot_id}" in found["message"], (chunk, found)


_READS_ENTRIES = re.compile(r"\b(FROM|JOIN)\s+register_entries\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%\(\w+\)s")  # psycopg's named parameters; SQLite's are "?"


def _in_list_size(statement: str) -> int | None:
    """How many values the statement's one ``IN (...)`` list has (None: no IN list)."""
    found = re.search(r"\bIN\s*\(([^()]*)\)", _PLACEHOLDER.sub("?", statement), re.IGNORECASE)
    return None if found is None else found.group(1).count("?")


def test_no_statement_reads_the_register_entries_without_a_bound(db, clinic):
    book = build_book(db, clinic)
    with recorded_statements(db.engine) as seen:
        assert rg.verify_register(db, clinic.actors["admin"], chunk_rows=TINY).ok
    reads = [statement for statement, _ in seen if _READS_ENTRIES.search(statement)]
    chunks = [s for s in reads if re.search(r"\bLIMIT\b", s, re.IGNORECASE)]
    assert len(chunks) == len(book.ids) // TINY + 1  # the last chunk is short (or empty)
    assert "register_entries.id >" not in chunks[0]
    assert all(re.search(r"register_entries\.id\s*>", s) for s in chunks[1:]), chunks  # keyset on the id
    lookups = [s for s in reads if s not in chunks]
    assert lookups, "the book's correction and resolution make verify read the entries they name"
    for statement in lookups:  # read by the ids one chunk names: at most two per line of the chunk
        size = _in_list_size(statement)
        assert size is not None and 1 <= size <= 2 * TINY, statement
    audited = [s for s, _ in seen if re.search(r"\bFROM\s+audit_log\b", s, re.IGNORECASE) and "record_id" in s]
    assert audited, "verify asks the audit log about the entries it read"
    for statement in audited:  # about one chunk's entries at a time, never every register entry's audit
        size = _in_list_size(statement)
        assert size is not None and 1 <= size <= TINY, statement


def test_every_chunk_reads_one_snapshot_while_others_write(db, clinic):
    """An entry committed while verify reads (here: a receipt, between its first and second chunks) is not
    seen: the count and the balances are the book's at one instant, on both engines."""
    book = build_book(db, clinic)
    admin, physician = clinic.actors["admin"], clinic.actors["physician"]
    safe = next(loc for loc in rg.list_locations(db, admin) if loc.name == "Safe")
    ketamine = next(p for p in rg.list_products(db, admin) if p.drug == "ketamine" and p.strength_mg_per_ml == 50)
    written: list[int] = []
    started: list[bool] = []

    def write_between_chunks(conn, cursor, statement, parameters, context, executemany) -> None:
        if not started and re.search(r"register_entries\.id\s*>", statement):
            started.append(True)  # once (the receipt's own statements pass through here too)
            written.append(_receive(db, physician, safe.id, ketamine.id, "SYN-KET-LATE", 1, 0).id)

    event.listen(db.engine, "before_cursor_execute", write_between_chunks)
    try:
        result = rg.verify_register(db, admin, chunk_rows=TINY)
    finally:
        event.remove(db.engine, "before_cursor_execute", write_between_chunks)
    assert written and written[0] > book.ids[-1]
    assert result.model_dump() == {"ok": True, "entries": len(book.ids), "lots": 3, "first_break": None}
    assert rg.verify_register(db, admin).entries == len(book.ids) + 1


def test_a_chunk_is_at_least_one_entry(db, clinic):
    with pytest.raises(ValueError, match="chunk_rows"):
        rg.verify_register(db, clinic.actors["admin"], chunk_rows=0)
