"""Charts drawn on the server as SVG (Altair + vl-convert), for the CLI, the web pages and PDFs.

Charts only draw numbers computed elsewhere (the pharmacology core's answer); they never compute.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import vl_convert as vlc

BAND_COLOURS = {"analgesia": "#2e7d32", "psychedelic": "#f9a825", "awakening": "#c62828", "anaesthesia": "#4a148c"}


def pk_chart(answer: dict[str, Any], title: str | None = None, width: int = 640, height: int = 300) -> alt.LayerChart:
    """Typical plasma curve, the population band (lowest–highest percentile) and the concentration bands."""
    times = [float(t) for t in answer["times_min"]]
    hours = [t / 60.0 for t in times]
    plasma = [float(c) for c in answer["plasma_ng_per_ml"]]
    rows = [{"time_h": h, "plasma_ng_per_ml": c} for h, c in zip(hours, plasma, strict=True)]
    top = max(plasma) if plasma else 1.0
    layers: list[alt.Chart] = []
    population = answer.get("population")
    if population:
        keys = sorted(population["percentiles"], key=float)
        low, high = population["percentiles"][keys[0]], population["percentiles"][keys[-1]]
        band_rows = [
            {"time_h": h, "low": float(lo), "high": float(hi)} for h, lo, hi in zip(hours, low, high, strict=True)
        ]
        top = max(top, max(float(v) for v in high))
        layers.append(
            alt.Chart(alt.Data(values=band_rows))
            .mark_area(opacity=0.25, color="#1565c0")
            .encode(
                x=alt.X("time_h:Q", title="time (h)"),
                y=alt.Y("low:Q", title="plasma ketamine (ng/mL)"),
                y2="high:Q",
                tooltip=[alt.Tooltip("time_h:Q", format=".2f"), alt.Tooltip("low:Q", format=".0f"), alt.Tooltip("high:Q", format=".0f")],
            )
        )
    layers.append(
        alt.Chart(alt.Data(values=rows))
        .mark_line(color="#0d47a1", strokeWidth=2)
        .encode(x=alt.X("time_h:Q", title="time (h)"), y=alt.Y("plasma_ng_per_ml:Q", title="plasma ketamine (ng/mL)"))
    )
    bands = [b for b in answer.get("summary", {}).get("bands", []) if b["low_ng_per_ml"] <= top * 1.3]
    if bands:
        band_rows = [{"label": b["label"], "level": b["low_ng_per_ml"], "id": b["id"]} for b in bands]
        rule = alt.Chart(alt.Data(values=band_rows)).mark_rule(strokeDash=[4, 4]).encode(
            y="level:Q",
            color=alt.Color(
                "label:N",
                scale=alt.Scale(domain=[b["label"] for b in bands], range=[BAND_COLOURS.get(b["id"], "#555") for b in bands]),
                legend=alt.Legend(title="bands", orient="bottom"),
            ),
        )
        layers.append(rule)
    chart = alt.layer(*layers).properties(width=width, height=height)
    if title:
        chart = chart.properties(title=title)
    return chart


def to_svg(chart: alt.TopLevelMixin) -> str:
    return vlc.vegalite_to_svg(chart.to_dict())
