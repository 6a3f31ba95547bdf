"""``ketaclinic screen``: pre-treatment screening (contract 4.2).

Reads one screening document (standard input or ``--input FILE``), validates it against the 4.2
vocabulary (unknown fields, unknown enum values and impossible numbers exit 2 with a JSON error naming
the field and what is allowed) and prints the decision, the findings with their sources and the ASRA
2018 evidence per condition. Contract 4.2 v2 fields (height, breastfeeding, heart rate / SpO2 /
respiratory rate as absolute values, six more history items, medications by generic or brand name)
are all optional, so a v1 document gives the same answer it always did.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ketaclinic.cli.io import run_json_command
from ketaclinic.clinical.screening import ScreeningRequest, screen


def screen_command(
    input_file: Path | None = typer.Option(
        None, "--input", help="JSON screening document (contract 4.2); standard input when omitted."
    ),
) -> None:
    """Screen a patient for low-dose IV ketamine: decision, findings (with sources), evidence."""
    run_json_command(input_file, ScreeningRequest, lambda request: screen(request).as_json())


def register(app: typer.Typer) -> None:
    app.command("screen")(screen_command)
