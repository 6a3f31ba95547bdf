"""``ketaclinic discharge``: is the patient ready to go home after the infusion? (contract 4.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ketaclinic.cli.io import run_json_command
from ketaclinic.clinical.discharge import DischargeRequest, assess_discharge


def discharge_document(request: DischargeRequest) -> dict[str, Any]:
    """The contract's answer: ``{"ready", "padss_total", "unmet": [{"code", "message", "source"}]}``."""
    return assess_discharge(request).as_contract()


def register(app: typer.Typer) -> None:
    @app.command("discharge")
    def discharge(
        input_file: Path | None = typer.Option(
            None, "--input", help="JSON document to read instead of standard input", dir_okay=False
        ),
    ) -> None:
        """Judge discharge readiness (baseline, minutes since the stop, observation, PADSS items, bedside answers)."""
        run_json_command(input_file, DischargeRequest, discharge_document)
