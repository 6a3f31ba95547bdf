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
