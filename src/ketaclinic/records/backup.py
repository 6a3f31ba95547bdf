"""Consistent copies of the database and bringing them back.

SQLite: the sqlite3 online backup API (a consistent snapshot even while the app writes, WAL
included) in both directions. PostgreSQL: ``pg_dump`` in custom format, and ``pg_restore
--clean --single-transaction`` (all or nothing) to bring it back.

A restore first checks the backup's audit hash chain, before anything is replaced: a backup
whose chain is broken (edited, removed or inserted entries) is refused unless the operator
accepts it (``--accept-broken-chain``), and that acceptance is written to the restored audit log.
After every restore the append-only and sealed-record triggers are put back
(:func:`ketaclinic.records.triggers.repair_guards`): a restore brings back the backup's schema,
and a trigger dropped in the backup must not stay dropped.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ketaclinic.records.audit import AuditEntry, ChainBreak, ChainReport, verify_chain, verify_entries
from ketaclinic.records.db import Database, normalize_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    pass


class BrokenChainError(BackupError):
    """The backup's audit chain does not verify: nothing was replaced."""

    def __init__(self, report: ChainReport):
        brk = report.first_break
        super().__init__("the backup's audit chain is broken" + (f": {brk.reason}" if brk else "")
                         + "; nothing was restored (pass --accept-broken-chain to restore it anyway, audited)")
        self.report = report


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if candidates:
        return str(candidates[-1])
    raise BackupError(f"{name} not found: install the PostgreSQL client tools")


def backup(url: str, target: Path) -> dict[str, object]:
    url = normalize_url(url)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        source_path = _sqlite_path(url)
        if not source_path.exists():
            raise BackupError(f"no database at {source_path}")
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        with sqlite3.connect(source_path) as source, sqlite3.connect(partial) as copy:
            source.backup(copy)
        partial.replace(target)
    elif backend == "postgresql":
        result = subprocess.run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}",
                                 _libpq_url(url)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")
    else:
        raise BackupError(f"backups of {backend} databases are not supported")
    return {"engine": backend, "file": str(target), "bytes": target.stat().st_size}


def _no_audit_log(reason: str) -> ChainReport:
    return ChainReport(intact=False, entries=0, head_seq=0, head_hash="",
                       first_break=ChainBreak(1, "removed", reason))


def _verify_sqlite_file(source: Path) -> ChainReport:
    """Verify the chain on a throw-away copy (opening a database may write to it)."""
    with tempfile.TemporaryDirectory(prefix="ketaclinic-verify-") as tmp:
        copy = Path(tmp) / "backup.db"
        with sqlite3.connect(source) as backup_db, sqlite3.connect(copy) as scratch:
            if backup_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("the backup file is damaged (integrity check failed)")
            tables = {row[0] for row in backup_db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            backup_db.backup(scratch)
        if not {"audit_log", "audit_head"} <= tables:
            return _no_audit_log("the backup has no audit log")
        db = Database(f"sqlite:///{copy}")
        try:
            with db.reading() as uow:
                return verify_chain(uow)
        finally:
            db.dispose()


_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _copy_field(raw: str) -> str | None:
    """One field of PostgreSQL's COPY text format (``\\N`` is NULL; backslash escapes)."""
    if raw == "\\N":
        return None

    def unescape(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _COPY_ESCAPES:
            return _COPY_ESCAPES[code]
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0].isdigit():
            return chr(int(code, 8))
        return code

    return re.sub(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", unescape, raw)  # COPY OUT writes other text as UTF-8


def _copy_blocks(sql: str) -> dict[str, list[dict[str, str | None]]]:
    """The rows of every ``COPY public.<table> (cols) FROM stdin;`` block of a plain-text dump."""
    tables: dict[str, list[dict[str, str | None]]] = {}
    lines = iter(sql.split("\n"))
    for line in lines:
        match = re.match(r"COPY (?:\"?public\"?\.)?\"?(\w+)\"? \((.*)\) FROM stdin;$", line)
        if not match:
            continue
        columns = [c.strip().strip('"') for c in match.group(2).split(",")]
        rows = tables.setdefault(match.group(1), [])
        for row in lines:
            if row == "\\.":
                break
            rows.append(dict(zip(columns, (_copy_field(f) for f in row.split("\t")), strict=False)))
    return tables


def _entry_from_copy(row: dict[str, Any]) -> AuditEntry:
    def number(name: str) -> int | None:
        return None if row.get(name) is None else int(row[name])

    at = datetime.fromisoformat(row["at"])
    return AuditEntry(seq=int(row["seq"]), at=at, user_id=number("user_id"), username=row.get("username"),
                      role=row.get("role"), action=row.get("action"), record_type=row.get("record_type"),
                      record_id=row.get("record_id"), ip=row.get("ip"), detail=row.get("detail"),
                      prev_hash=row.get("prev_hash"), hash=row.get("hash"), site_id=number("site_id"))


def _verify_pg_dump(source: Path) -> ChainReport:
    """Read the audit tables' rows out of the dump (no database needed) and walk the chain."""
    result = subprocess.run([_pg_tool("pg_restore"), "--data-only", "--table=audit_log", "--table=audit_head",
                             "--file=-", str(source)], capture_output=True)
    if result.returncode != 0:
        raise BackupError(f"pg_restore could not read the backup: {result.stderr.decode(errors='replace').strip()[:500]}")
    tables = _copy_blocks(result.stdout.decode("utf-8"))
    if "audit_log" not in tables or "audit_head" not in tables:
        return _no_audit_log("the backup has no audit log")
    heads = [h for h in tables["audit_head"] if h.get("id") == "1"]
    if not heads:
        return _no_audit_log("the backup has no audit chain head")
    try:
        entries = sorted((_entry_from_copy(r) for r in tables["audit_log"]), key=lambda e: e.seq)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"the backup's audit log cannot be read: {exc}") from None
    return verify_entries(entries, int(heads[0]["last_seq"] or 0), heads[0]["last_hash"] or "")


def verify_backup(url: str, source: Path) -> ChainReport:
    """The audit chain of a backup file, checked without touching the live database."""
    url = normalize_url(url)
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    head = source.read_bytes()[:16]
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError("the file is not a SQLite backup")
        return _verify_sqlite_file(source)
    if backend == "postgresql":
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError("the file is not a pg_dump custom-format backup")
        return _verify_pg_dump(source)
    raise BackupError(f"restores of {backend} databases are not supported")


def restore(url: str, source: Path, *, accept_broken_chain: bool = False,
            operator: str = "system:restore") -> dict[str, object]:
    """Check the backup's chain, replace the database with it, put the guards back.

    A broken chain raises :class:`BrokenChainError` before anything is replaced, unless
    ``accept_broken_chain``: then the restore goes ahead and the acceptance (who, which file,
    the first break) is appended to the restored audit log.
    """
    url = normalize_url(url)
    source = Path(source)
    report = verify_backup(url, source)
    if not report.intact and not accept_broken_chain:
        raise BrokenChainError(report)
    _replace(url, source)
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            from ketaclinic.records.triggers import repair_guards

            repaired = repair_guards(connection)
        if not report.intact:
            from ketaclinic.records.audit import append

            with db.transaction() as uow:
                append(uow, action="backup.restore_broken_chain", username=operator, role="system", ip="local",
                       detail={"file": str(source), "backup_chain": report.as_dict()})
    finally:
        db.dispose()
    return {"engine": make_url(url).get_backend_name(), "file": str(source), "backup_chain": report.as_dict(),
            "accepted_broken_chain": not report.intact, "guards_repaired": repaired}


def _replace(url: str, source: Path) -> None:
    head = source.read_bytes()[:16]
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError("the file is not a SQLite backup")
        target_path = _sqlite_path(url)
        with sqlite3.connect(source) as backup_db:
            if backup_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("the backup file is damaged (integrity check failed)")
            with sqlite3.connect(target_path, timeout=30) as live:
                backup_db.backup(live)
    elif backend == "postgresql":
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError("the file is not a pg_dump custom-format backup")
        result = subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                                 f"--dbname={_libpq_url(url)}", str(source)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()[:500]}")
    else:
        raise BackupError(f"restores of {backend} databases are not supported")
