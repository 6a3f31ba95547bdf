"""``ketaclinic simulate``: contract 4.1 (JSON in, JSON out), a Rich table and an SVG plot."""

from __future__ import annotations

from pathlib import Path

import typer

from ketaclinic.cli.io import CommandError, emit, fail, parse_model, read_document


def _simulate(
    input_file: Path | None = typer.Option(None, "--input", help="read the request from this JSON file instead of stdin"),
    list_models: bool = typer.Option(False, "--list-models", help="print the available models and exit"),
    table: bool = typer.Option(False, "--table", help="print a table of the key times instead of JSON"),
    plot: Path | None = typer.Option(None, "--plot", help="also write an SVG chart to this file"),
) -> None:
    """Predict plasma ketamine concentrations for a regimen (decision support only)."""
    from ketaclinic.pharmacology.simulate import SimulateRequest, SimulationError, simulate
    from ketaclinic.pharmacology.simulate import list_models as models

    if list_models:
        emit(models())
        return
    try:
        request = parse_model(SimulateRequest, read_document(input_file))
        answer = simulate(request)
    except SimulationError as exc:
        fail(CommandError(exc.code, exc.message, exc.field))
    except CommandError as error:
        fail(error)
    if plot is not None:
        from ketaclinic.charts import pk_chart, to_svg

        plot.write_text(to_svg(pk_chart(answer, title=f"{answer['model']} — predicted plasma ketamine")), encoding="utf-8")
    if table:
        _print_table(answer)
    else:
        emit(answer)


def _print_table(answer: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Predicted plasma ketamine — model {answer['model']} ({answer['source']})")
    table.add_column("time (min)", justify="right")
    table.add_column("plasma (ng/mL)", justify="right")
    if "effect_site_ng_per_ml" in answer:
        table.add_column("effect site (ng/mL)", justify="right")
    population = answer.get("population")
    keys = sorted(population["percentiles"], key=float) if population else []
    for key in keys:
        table.add_column(f"P{key} (ng/mL)", justify="right")
    times = list(answer["times_min"])
    step = max(1, len(times) // 40)
    for i in range(0, len(times), step):
        row = [f"{float(times[i]):g}", f"{float(answer['plasma_ng_per_ml'][i]):.1f}"]
        if "effect_site_ng_per_ml" in answer:
            row.append(f"{float(answer['effect_site_ng_per_ml'][i]):.1f}")
        row += [f"{float(population['percentiles'][k][i]):.1f}" for k in keys]
        table.add_row(*row)
    console.print(table)
    summary = answer["summary"]
    console.print(f"Peak {summary['peak_ng_per_ml']:.1f} ng/mL at {summary['time_of_peak_min']:g} min")
    for band, minutes in summary["time_in_band_min"].items():
        console.print(f"  time in {band}: {minutes:g} min")
    for warning in answer["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(f"[dim]{answer['disclaimer']}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("simulate")(_simulate)
