"""Shared fixtures: a real PostgreSQL server, and migrated databases on both engines.

The PostgreSQL server is Debian's (``/usr/lib/postgresql/*/bin``; ``make test`` installs it when
missing via ``scripts/ensure_postgres.sh``), initialised in a temporary directory and started on a
free loopback port as the unprivileged user ``ketaclinic-pg`` (PostgreSQL refuses to run as
root). One server per test process (per xdist worker), stopped at the end.

Schemas are built by the Alembic migrations, once per engine per process, into a template;
each test then gets a fresh copy (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL), so tests never see each other's rows.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "ketaclinic-pg"
ENGINES = ["sqlite", "postgresql"]


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host={self.host} port={self.port} user={self.user} dbname=postgres", autocommit=True) as conn:
            conn.execute(sql)


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if not candidates:
        pytest.fail("PostgreSQL server binaries not found: run `make test` or scripts/ensure_postgres.sh "
                    "(installs the Debian package postgresql)")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_pg_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if subprocess.run(["id", "-u", PG_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=False, capture_output=True)
    return ["runuser", "-u", PG_USER, "--", *argv]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="ketaclinic-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        _as_pg_user(["true"])  # creates the user if missing
        shutil.chown(root, PG_USER, PG_USER)
    root.chmod(0o700)
    run = dict(check=True, capture_output=True, text=True)
    subprocess.run(_as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "ketaclinic", "--auth=trust",
                                "-E", "UTF8", "--locale=C", "--no-sync"]), **run)
    port = _free_port()
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
               f"-c full_page_writes=off -c max_connections=100")
    subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                                "-w", "-t", "30", "start"]), **run)
    server = PostgresServer(host="127.0.0.1", port=port, user="ketaclinic", data_dir=data)
    try:
        yield server
    finally:
        subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# --- migrated templates and per-test databases --------------------------------------------

_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ketaclinic.records.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    import sqlite3

    with sqlite3.connect(path) as conn:  # fold the WAL into the main file so a plain copy is complete
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    from ketaclinic.records.migrate import upgrade

    name = "ketaclinic_template"
    postgres_server.admin(f"DROP DATABASE IF EXISTS {name}")
    postgres_server.admin(f"CREATE DATABASE {name}")
    upgrade(postgres_server.url(name))
    return name


def database_from_template(server: PostgresServer, template: str, name: str) -> None:
    """A new database copied from the migrated template (retried: PostgreSQL refuses the copy while
    anything is connected to the template). WAL_LOG (PostgreSQL 15's default) copies through the WAL;
    FILE_COPY forces a checkpoint of the whole server before and after each copy, which with the other
    tests' databases dirty cost 0.07-0.65 s a copy against 0.04-0.11 s (110 PostgreSQL tests: 156/119 s
    with FILE_COPY, 133/110 s with WAL_LOG on the shared machine)."""
    for attempt in range(20):
        try:
            server.admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY WAL_LOG")
            return
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.1)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> Iterator[str]:
    """A freshly migrated, empty database on the engine named by ``engine`` (param or fixture)."""
    if engine == "sqlite":
        path = tmp_path / "ketaclinic.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"kc_test_{os.getpid()}_{next(_counter)}"
    database_from_template(server, request.getfixturevalue("postgres_template"), name)
    try:
        yield server.url(name)
    finally:
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Which database engine a test runs on; every records/services/API test runs on both."""
    return request.param


@pytest.fixture(scope="session")
def cheap_password_hashing() -> None:
    """Real argon2id, with its cheapest parameters: hashing is not what these tests measure."""
    from argon2 import PasswordHasher, profiles

    from ketaclinic.services.auth import use_password_hasher

    use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, cheap_password_hashing: None):
    from ketaclinic.settings import Settings

    return Settings(
        env="test",
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        secret_key_file=tmp_path / "secret",
        lockout_failed_logins=3,
        lockout_min=15,
        login_rate_limit=50,
        inquiry_rate_limit=50,
    )


@pytest.fixture
def db(settings) -> Iterator:
    from ketaclinic.records.db import Database

    database = Database(settings.database_url)
    try:
        yield database
    finally:
        database.dispose()


PASSWORD = "correct-horse-battery"


@dataclass
class Clinic:
    """A small clinic: one user per role, the patient user's own chart and somebody else's."""

    actors: dict
    own_patient_id: int
    other_patient_id: int


def build_clinic(db, own, other) -> Clinic:
    """One user per role (``PASSWORD``); the patient user owns ``own`` (a PatientIn); ``other`` is someone else."""
    from ketaclinic.records.users import User
    from ketaclinic.services.auth import actor_for
    from ketaclinic.services.context import Actor
    from ketaclinic.services.patients import create_patient
    from ketaclinic.services.sites import default_site_id
    from ketaclinic.services.users import UserCreate, create_user

    with db.reading() as session:  # the seed works at the default site (migration 0011)
        seed = Actor(user_id=None, username="seed", role="coordinator", ip="127.0.0.1",
                     site_ids=(default_site_id(session),))
    own_view, other_view = create_patient(db, seed, own), create_patient(db, seed, other)
    from tests.consent_support import sign_consent  # issue 13: consent signed before any course starts

    sign_consent(db, own_view.id), sign_consent(db, other_view.id)
    actors = {}
    for role in ("admin", "physician", "nurse", "coordinator", "patient"):
        view = create_user(db, Actor.system("tests"), UserCreate(
            username=role, role=role, password=PASSWORD, patient_id=own_view.id if role == "patient" else None))
        with db.transaction() as session:
            actors[role] = actor_for(session.get(User, view.id), "127.0.0.1")
    return Clinic(actors=actors, own_patient_id=own_view.id, other_patient_id=other_view.id)


def module_database(tmp_path: Path, sqlite_template: Path, name: str = "module.db"):
    """(settings, database): a migrated SQLite database of a test module's own (a copy of the template)."""
    import shutil

    from ketaclinic.records.db import Database
    from ketaclinic.settings import Settings

    path = tmp_path / name
    shutil.copyfile(sqlite_template, path)
    settings = Settings(env="test", database_url=f"sqlite:///{path}",
                        secret_key="test-secret-key-that-is-long-enough-0123456789",
                        secret_key_file=tmp_path / "secret", login_rate_limit=500)
    return settings, Database(settings.database_url)


@pytest.fixture
def clinic(db) -> Clinic:
    from datetime import date

    from ketaclinic.services.patients import PatientIn

    return build_clinic(db, PatientIn(given_name="Synthetic", family_name="Own", birth_date=date(1970, 1, 2),
                                      sex="female", weight_kg=68.0, email="own@example.org"),
                        PatientIn(given_name="Synthetic", family_name="Other", birth_date=date(1980, 3, 4),
                                  sex="male", weight_kg=80.0))


# --- xdist groups (``--dist loadgroup``) under pytest 9 ----------------------------------------
#
# pytest-xdist (3.8) groups a test by appending "@group" to ``item._nodeid`` on the worker; pytest 9 builds
# ``nodeid`` from ``item._id`` instead, so the suffix never reaches the scheduler and every xdist_group was
# silently ignored: each worker seeded the demo clinics of the browser journeys, the FHIR round trip, the
# reports and the research export (measured 2026-12: the FHIR demo's 40-patient set-up ran on both workers,
# 123 s and 134 s under load). The workers write each grouped test's group to a file, and the scheduler
# reads it; tests without a group are still scheduled one by one.

_GROUPS_DIR = "KETACLINIC_XDIST_GROUPS_DIR"


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "dist", None) == "loadgroup" and not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = os.environ[_GROUPS_DIR] = tempfile.mkdtemp(prefix="ketaclinic-xdist-groups-")  # workers inherit it
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.hookimpl(trylast=True)  # after every hook that adds an xdist_group mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    worker, folder = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get(_GROUPS_DIR)
    if not (worker and folder and getattr(config.option, "loadgroup", False)):
        return
    groups = {}
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names:
            groups[item.nodeid] = "_".join(names)
    path = Path(folder) / f"{worker}.json"
    path.with_suffix(".tmp").write_text(json.dumps(groups))
    path.with_suffix(".tmp").replace(path)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``loadgroup`` whose groups come from the workers' marks (above), not from the node ids."""
    folder = os.environ.get(_GROUPS_DIR)
    if config.getvalue("dist") != "loadgroup" or not folder:
        return None
    from xdist.scheduler import LoadGroupScheduling

    class MarkedGroupScheduling(LoadGroupScheduling):
        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:
                files = sorted(Path(folder).glob("*.json"))
                assert files, f"no worker wrote its xdist groups to {folder}"
                self._groups = json.loads(files[0].read_text())
            return self._groups.get(nodeid) or super()._split_scope(nodeid)

    return MarkedGroupScheduling(config, log)
