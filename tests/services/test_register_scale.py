"""Issue 17: the register's pages read a group of clinics' ledger by index (SQLite, with a large clinic's
statistics): a dispense, an administration and a waste per session make millions of lines, the counts a
few thousand."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ketaclinic.services import register as rg
from tests.statements import recorded_statements

# sqlite_stat1 of register_entries at 100,000 patients (2.4 million lines, 40 sites, about 6,000 counts)
BIG_LEDGER_STATS = {
    "ix_register_entries_site": "2400000 60000 1", "ix_register_entries_lot": "2400000 300 1",
    "ix_register_entries_session": "2400000 3", "ix_register_entries_kind_site": "2400000 240000 6000 1",
}


@pytest.fixture
def engine() -> str:
    return "sqlite"


def test_the_open_discrepancies_are_read_by_kind_not_by_walking_the_sites_ledger(db, clinic):
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = 'register_entries'"))
        for index, stat in BIG_LEDGER_STATS.items():
            conn.execute(text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('register_entries', :i, :s)"),
                         {"i": index, "s": stat})
    db.engine.dispose()  # new connections load the statistics
    with recorded_statements(db.engine, selects_only=True) as seen:
        rg.open_discrepancies(db, clinic.actors["physician"])
    (statement, parameters), = [(s, p) for s, p in seen if "FROM register_entries" in s]
    with db.engine.connect() as conn:
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "register_entries USING INDEX ix_register_entries_kind_site (kind=?" in plan, plan
