"""Issue 17: the register's pages read a group of clinics' ledger by index (SQLite, with a large clinic's
statistics): a dispense, an administration and a waste per session make millions of lines, the counts a
few thousand."""

from __future__ import annotations

import pytest

from ketaclinic.services import register as rg
from tests.statements import recorded_statements, sqlite_plan, use_sqlite_statistics

# sqlite_stat1 of register_entries at 100,000 patients (2.4 million lines, 40 sites, about 6,000 counts)
BIG_LEDGER_STATS = {
    "ix_register_entries_site": "2400000 60000 1", "ix_register_entries_lot": "2400000 300 1",
    "ix_register_entries_session": "2400000 3", "ix_register_entries_kind_site": "2400000 240000 6000 1",
}

# as measured on the SQLite scale benchmark's clinic (20,000 patients, 8 sites, 476,000 lines)
SMALL_GROUP_LEDGER_STATS = {
    "ix_register_entries_site": "475865 59484 1", "ix_register_entries_lot": "475865 149 1",
    "ix_register_entries_session": "475865 4", "ix_register_entries_kind_site": "475865 59484 7436 1",
}


@pytest.fixture
def engine() -> str:
    return "sqlite"


def test_the_open_discrepancies_are_read_by_kind_not_by_walking_the_sites_ledger(db, clinic):
    use_sqlite_statistics(db, {"register_entries": BIG_LEDGER_STATS})
    with recorded_statements(db.engine, selects_only=True) as seen:
        rg.open_discrepancies(db, clinic.actors["physician"])
    (statement, parameters), = [(s, p) for s, p in seen if "FROM register_entries" in s]
    plan = sqlite_plan(db.engine, statement, parameters)
    assert "register_entries USING INDEX ix_register_entries_kind_site (kind=?" in plan, plan


def test_the_count_sheet_reads_the_days_counts_and_discrepancies_by_kind_and_site(db, clinic):
    """The count sheet's location belongs to one site: its counts are read by (kind, site), not by a scan of
    the ledger (42 ms each at 20,000 patients on SQLite, for an admin at every site)."""
    from ketaclinic.services import sites as st
    from ketaclinic.services.context import Actor
    from tests.services.test_register import stock

    safe, _, _ = stock(db, clinic)
    admin = clinic.actors["admin"]
    others = [st.create_site(db, admin, st.SiteIn(name=f"Site {c}", code=f"S{c}")).id for c in range(2, 9)]
    everywhere = Actor(user_id=admin.user_id, username="admin", role="admin", site_ids=(*admin.site_ids, *others))
    use_sqlite_statistics(db, {"register_entries": SMALL_GROUP_LEDGER_STATS})
    with recorded_statements(db.engine, selects_only=True) as seen:
        sheet = rg.count_sheet(db, everywhere, safe.id)
    assert sheet.lines
    reads = [(s, p) for s, p in seen if "FROM register_entries" in s and "register_entries.kind = " in s]
    assert len(reads) == 2, reads  # the day's counts, the open discrepancies
    for statement, parameters in reads:
        plan = sqlite_plan(db.engine, statement, parameters)
        assert "SCAN register_entries" not in plan and "ix_register_entries_kind_site (kind=? AND site_id=?)" in plan, plan
