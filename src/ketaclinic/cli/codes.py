"""``ketaclinic codes``: the superbill's CPT/HCPCS lines for one encounter (contract 4.11).

``{"infusion_minutes": 151, "iv_pushes": 0, "drug_mg": 280, "ndc": "0409-2051-05"}`` ->
``{"lines": [{"code", "units", "description", "source"}]}``: 96365 / 96366 by the CPT time rule,
96374 / 96375 for pushes, J3490 for the drug (one unit, the dose and NDC in the description).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ketaclinic.cli.io import CommandError, run_json_command
from ketaclinic.clinical.billing_codes import BillingInputError, CodesRequest, codes_document


def _codes(request: CodesRequest) -> dict[str, Any]:
    try:
        return codes_document(request)
    except BillingInputError as error:  # the model checks first; this keeps the core's own refusal clean too
        raise CommandError("invalid_input", str(error), error.field) from None


def register(app: typer.Typer) -> None:
    @app.command("codes")
    def codes(
        input_file: Path | None = typer.Option(
            None, "--input", help="JSON document to read instead of standard input", dir_okay=False
        ),
    ) -> None:
        """Superbill codes of one encounter: infusion minutes, IV pushes, drug mg and NDC (optional em_code)."""
        run_json_command(input_file, CodesRequest, _codes)
