"""Consistent copies of the database and bringing them back.

SQLite: the sqlite3 online backup API (a consistent snapshot even while the app writes, WAL
included) in both directions. PostgreSQL: ``pg_dump`` in custom format, and ``pg_restore
--clean --single-transaction`` (all or nothing) to bring it back.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from ketaclinic.records.db import normalize_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    pass


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


def restore(url: str, source: Path) -> dict[str, object]:
    url = normalize_url(url)
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
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
    return {"engine": backend, "file": str(source)}
