"""``ketaclinic register verify`` (design.md 4.8): replay the controlled-substance register.

Exit 0 when every lot's balance equals receipts − administered − wasted − returned ± adjustments −
losses at every entry, every waste and count has a second person other than the one who recorded it,
and every entry is in the audit log; else exit 1, naming the first break (``first_break.entry_id``,
``code``, ``message``). One JSON document on standard output either way; the database comes from
``DATABASE_URL`` / ``KETACLINIC_DATABASE_URL``.
"""

from __future__ import annotations

import typer

from ketaclinic.cli.io import emit

register_app = typer.Typer(help="The controlled-substance register (design 4.8).", no_args_is_help=True)


@register_app.command("verify")
def verify() -> None:
    """Check the register: exit 0 when it balances, 1 naming the first break."""
    from ketaclinic.cli.database import open_migrated
    from ketaclinic.cli.records import _settings
    from ketaclinic.services.context import Actor
    from ketaclinic.services.register import verify_register

    settings = _settings()
    db = open_migrated(settings)
    try:
        result = verify_register(db, Actor.system("register-verify"))
    finally:
        db.dispose()
    emit(result.model_dump(mode="json"))
    if not result.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(register_app, name="register")
