"""The SQL a piece of code sends, recorded from the engine (statement counts, query plans, lock windows)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def recorded_statements(engine: Engine, *, selects_only: bool = False) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the engine sends inside the block; ``selects_only``: single SELECTs."""
    seen: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        if selects_only and (executemany or not statement.lstrip().upper().startswith("SELECT")):
            return
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def statements_of_page(client: Any, engine: Engine, url: str) -> tuple[list[str], str]:
    """The statements one page sends (it must answer 200) and its HTML."""
    with recorded_statements(engine) as seen:
        page = client.get(url)
    assert page.status_code == 200, (url, page.status_code, page.text[:300])
    return [statement for statement, _ in seen], page.text


def use_sqlite_statistics(db: Any, stats: dict[str, dict[str, str]]) -> None:
    """Give SQLite's planner a large clinic's ``sqlite_stat1`` rows (table -> index -> stat), as ``ANALYZE``
    wrote them there, over this database's own: its choices are then the ones it makes at that size. The
    other rows stay as ``ANALYZE`` writes them here. New connections load them."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        for table, rows in stats.items():
            for index, stat in rows.items():
                conn.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = :t AND idx = :i"), {"t": table, "i": index})
                conn.execute(text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:t, :i, :s)"),
                             {"t": table, "i": index, "s": stat})
    db.engine.dispose()


def sqlite_plan(engine: Engine, statement: str, parameters: Any) -> str:
    """SQLite's ``EXPLAIN QUERY PLAN`` of one recorded statement, its steps joined by " | "."""
    with engine.connect() as conn:
        return " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))


def follow_up_rows_stale(db) -> None:
    """Every follow-up summary stale, so that a page's statements are counted with its worst case: it computes
    each stale row it shows (a fixed handful of statements for all of them, issue 17)."""
    from ketaclinic.services.follow_up_summaries import mark_all_stale

    with db.transaction() as uow:
        mark_all_stale(uow)
