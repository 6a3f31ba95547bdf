"""The ``ketaclinic`` command.

Every module of this package that defines ``register(app)`` adds its commands, so each domain
keeps its command next to the others without one file growing without end. All commands that
take clinical input read one JSON document and write one JSON document (design.md, section 4).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="ketaclinic",
    help="KetaClinic: decision support for low-dose ketamine infusion clinics. "
    "It never replaces the clinician's judgement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """KetaClinic: decision support for low-dose ketamine infusion clinics (never a replacement for judgement)."""


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "io":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    app()
