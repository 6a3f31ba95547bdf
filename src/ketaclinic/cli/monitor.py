"""``ketaclinic monitor``: judge one observation during a session against the alert rules (contract 4.4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ketaclinic.cli.io import run_json_command
from ketaclinic.clinical.monitoring import MonitorRequest, evaluate_observation


def monitor_document(request: MonitorRequest) -> dict[str, Any]:
    """The contract's answer: ``{"alerts": [{"code", "severity", "action", "message", "source"}]}``."""
    alerts = evaluate_observation(request.baseline, request.observation)
    return {"alerts": [alert.as_dict() for alert in alerts]}


def register(app: typer.Typer) -> None:
    @app.command("monitor")
    def monitor(
        input_file: Path | None = typer.Option(
            None, "--input", help="JSON document to read instead of standard input", dir_okay=False
        ),
    ) -> None:
        """Judge one observation (baseline + observation JSON) against the alert rules; print the alerts."""
        run_json_command(input_file, MonitorRequest, monitor_document)
