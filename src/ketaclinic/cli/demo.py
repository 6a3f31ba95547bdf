"""``ketaclinic demo [--if-empty] [--patients N]``: seed the synthetic demo clinic (contract 4.6), idempotent.

Up to 400 patients the clinic is made through the services (the default: 40 patients). Above that, up
to 200,000, it is the clinic group of issue 17 loaded in bulk (:mod:`ketaclinic.demo_bulk`: the
40-patient demo through the services, then the rest across four sites by ``executemany`` on SQLite
and ``COPY`` on PostgreSQL); progress goes to standard error.

Writes one JSON document (what was made, or why nothing was). Refused (exit 2) when
``KETACLINIC_ENV=production`` and the demo password is still the well-known default.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ketaclinic.cli.io import CommandError, emit, fail

SERVICE_MAX = 400  # above this the clinic is loaded in bulk (issue 17)


def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Seed only a database with no patients and no users")] = False,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed and day give the same clinic)")] = 2026,
    patients: Annotated[int, typer.Option(min=8, max=200_000, help="How many synthetic patients (above "
                                          f"{SERVICE_MAX}: loaded in bulk across several sites)")] = 40,
) -> None:
    """Seed the synthetic demo clinic (every name and record says it is synthetic)."""
    from ketaclinic.cli.database import open_migrated
    from ketaclinic.cli.records import _settings
    from ketaclinic.clock import utcnow
    from ketaclinic.demo import seed_demo
    from ketaclinic.services.errors import ServiceError
    from ketaclinic.settings import SettingsError

    settings = _settings()
    try:
        settings.demo_password_for_seeding()
    except SettingsError as exc:
        fail(CommandError("demo_refused", str(exc), "KETACLINIC_DEMO_PASSWORD"))
    db = open_migrated(settings)
    try:
        if patients > SERVICE_MAX:
            from ketaclinic.demo import is_empty, seed_demo_bulk

            if if_empty and not is_empty(db):
                emit({"seeded": False, "reason": "the database is not empty"})
                return
            emit(seed_demo_bulk(db, settings, now=utcnow(), seed=seed, patients=patients,  # refusals: ServiceError
                                progress=lambda p: print(json.dumps(p), file=sys.stderr, flush=True)))
            return
        summary = seed_demo(db, settings, now=utcnow(), seed=seed, patients=patients, if_empty=if_empty)
    except ServiceError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    finally:
        db.dispose()
    emit(summary.as_dict())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
