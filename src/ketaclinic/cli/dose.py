"""``ketaclinic dose``: a weight-based order in, a pump program out (contract 4.3).

``ketaclinic dose [--input FILE]`` reads one order as JSON and prints the program, or exits 2
with ``{"error": {"code", "message", "field", "limits"}}``: ``hard_limit`` (nothing programmed,
no override), ``soft_limit`` (give ``override.reason``), ``weight_out_of_range`` or
``invalid_input``. ``ketaclinic dose --list-protocols`` prints the protocol library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ketaclinic.cli.io import CommandError, emit, run_json_command
from ketaclinic.clinical.dosing import PROFILES, DoseRequest, DosingError, LimitFinding, program_pump
from ketaclinic.clinical.protocols import list_protocols


class DoseError(CommandError):
    """The contract's error shape, with the limits that fired (so the screen can show each one)."""

    def __init__(self, code: str, message: str, field: str | None, limits: tuple[LimitFinding, ...]):
        super().__init__(code, message, field)
        self.limits = limits

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        body["error"]["limits"] = [f.as_dict() for f in self.limits]
        return body


def handle_dose(request: DoseRequest) -> dict[str, Any]:
    """Program the pump from the drug library's profile (the order's, else the protocol's); a
    refusal becomes the JSON error."""
    try:
        return program_pump(request, PROFILES).as_dict()
    except DosingError as exc:
        raise DoseError(exc.code, exc.message, exc.field, exc.limits) from None


def register(app: typer.Typer) -> None:
    @app.command("dose")
    def dose(
        input_file: Path | None = typer.Option(
            None, "--input", help="JSON order (contract 4.3); standard input when omitted.", dir_okay=False
        ),
        list_protocols_flag: bool = typer.Option(
            False, "--list-protocols", help="Print the protocol library and exit."
        ),
    ) -> None:
        """Weight-based dose -> smart-pump program in mL/h, checked against the drug library's hard and soft limits."""
        if list_protocols_flag:
            emit({"protocols": list_protocols()})
            return
        run_json_command(input_file, DoseRequest, handle_dose)
