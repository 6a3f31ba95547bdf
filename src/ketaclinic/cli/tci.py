"""``ketaclinic tci``: the bolus and rate schedule that reaches and holds a plasma target."""

from __future__ import annotations

from pathlib import Path

import typer

from ketaclinic.cli.io import CommandError, emit, fail, parse_model, read_document


def _tci(
    input_file: Path | None = typer.Option(None, "--input", help="read the request from this JSON file instead of stdin"),
) -> None:
    """Plan a target-controlled infusion for a model (decision support only)."""
    from ketaclinic.clinical.dosing import DosingError
    from ketaclinic.pharmacology.simulate import SimulationError
    from ketaclinic.pharmacology.tci import TciRequest, plan_tci

    try:
        answer = plan_tci(parse_model(TciRequest, read_document(input_file)))
    except SimulationError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    except DosingError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    except CommandError as error:
        fail(error)
    emit(answer)


def register(app: typer.Typer) -> None:
    app.command("tci")(_tci)
