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
                legend=alt.Legend(title="concentration bands", orient="bottom", columns=2,
                                  labelLimit=420, labelFontSize=12, titleFontSize=12),
            ),
        )
        layers.append(rule)
    chart = alt.layer(*layers).properties(width=width, height=height)
    if population:
        keys = sorted(population["percentiles"], key=float)
        subtitle = (f"line: typical patient · shaded: {keys[0]}th-{keys[-1]}th percentile of "
                    f"{population['subjects']} simulated patients (seed {population['seed']})")
    else:
        subtitle = "line: typical patient"
    chart = chart.properties(title=alt.TitleParams(title or "Predicted plasma ketamine", subtitle=subtitle))
    return chart.configure_axis(labelFontSize=12, titleFontSize=13)


def to_svg(chart: alt.TopLevelMixin) -> str:
    return vlc.vegalite_to_svg(chart.to_dict())


def pain_trend_chart(points: list[dict[str, Any]], session_days: list[str] | None = None, width: int = 640,
                     height: int = 220, baseline_nrs: float | None = None) -> alt.LayerChart:
    """Diary pain (0-10 NRS) over days, each infusion session marked by a vertical rule.

    ``points``: ``[{"day": "2026-01-05", "pain_nrs": 6}, ...]``; ``session_days``: ISO days.
    """
    rows = [{"day": p["day"], "pain_nrs": float(p["pain_nrs"])} for p in points]
    x = alt.X("day:T", title="date", axis=alt.Axis(format="%d %b"))
    y = alt.Y("pain_nrs:Q", title="pain (0-10)", scale=alt.Scale(domain=[0, 10]))
    layers: list[alt.Chart] = [
        alt.Chart(alt.Data(values=rows)).mark_line(color="#0d47a1", strokeWidth=2, point=alt.OverlayMarkDef(size=40, color="#0d47a1"))
        .encode(x=x, y=y)
    ]
    if session_days:
        layers.insert(0, alt.Chart(alt.Data(values=[{"day": d, "what": "infusion session"} for d in session_days]))
                      .mark_rule(color="#6a1b9a", strokeDash=[5, 3], strokeWidth=2)
                      .encode(x="day:T", color=alt.Color("what:N", scale=alt.Scale(range=["#6a1b9a"]),
                                                         legend=alt.Legend(title=None, orient="top"))))
    if baseline_nrs is not None:
        layers.append(alt.Chart(alt.Data(values=[{"y": baseline_nrs * 0.7}])).mark_rule(color="#2e7d32", strokeDash=[2, 2])
                      .encode(y="y:Q"))
    return alt.layer(*layers).properties(width=width, height=height)


def session_vitals_chart(vitals: list[dict[str, Any]], predicted: dict[str, Any] | None = None, width: int = 640,
                         height: int = 200) -> alt.VConcatChart | alt.LayerChart:
    """Blood pressure, heart rate and SpO2 against minutes of the session, above the predicted plasma curve.

    ``vitals``: ``[{"minute", "systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct"}]``;
    ``predicted``: a simulate answer (``times_min``, ``plasma_ng_per_ml``) for the program actually run.
    """
    measures = {"systolic_mmhg": "systolic (mmHg)", "diastolic_mmhg": "diastolic (mmHg)",
                "heart_rate_bpm": "heart rate (/min)", "spo2_pct": "SpO2 (%)"}
    rows = [{"minute": float(v["minute"]), "measure": label, "value": float(v[key])}
            for v in vitals for key, label in measures.items() if v.get(key) is not None]
    colours = ["#c62828", "#ef6c00", "#1565c0", "#2e7d32"]
    top = (alt.Chart(alt.Data(values=rows)).mark_line(point=True)
           .encode(x=alt.X("minute:Q", title="minutes since start"), y=alt.Y("value:Q", title="vital signs"),
                   color=alt.Color("measure:N", scale=alt.Scale(domain=list(measures.values()), range=colours),
                                   legend=alt.Legend(title=None, orient="top")))
           .properties(width=width, height=height))
    if not predicted:
        return top
    curve = [{"minute": float(t), "plasma_ng_per_ml": float(c)}
             for t, c in zip(predicted["times_min"], predicted["plasma_ng_per_ml"], strict=True)]
    bottom = (alt.Chart(alt.Data(values=curve)).mark_area(color="#0d47a1", opacity=0.3, line=True)
              .encode(x=alt.X("minute:Q", title="minutes since start"),
                      y=alt.Y("plasma_ng_per_ml:Q", title="predicted ketamine (ng/mL)"))
              .properties(width=width, height=int(height * 0.7)))
    return alt.vconcat(top, bottom)


def kaplan_meier_chart(rows: list[dict[str, Any]], width: int = 560, height: int = 260) -> alt.Chart:
    """Share of responders still with relief against days since the course (step curve, with its CI band).

    ``rows``: ``[{"day", "survival", "low", "high", "group"}]`` computed by the outcomes core.
    """
    base = alt.Chart(alt.Data(values=rows))
    band = base.mark_area(opacity=0.18, interpolate="step-after").encode(
        x=alt.X("day:Q", title="days since the end of the course"), y=alt.Y("low:Q", title="still with relief",
                                                                             axis=alt.Axis(format="%"),
                                                                             scale=alt.Scale(domain=[0, 1])),
        y2="high:Q", color=alt.Color("group:N", legend=alt.Legend(title=None, orient="top")))
    line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(
        x="day:Q", y="survival:Q", color="group:N")
    return alt.layer(band, line).properties(width=width, height=height)


def questionnaire_trend_svg(points: list[dict[str, Any]], max_total: int, title: str,
                            bands: list[dict[str, Any]] | None = None, width: int = 560, height: int = 200) -> str:
    """A questionnaire's totals over time as a small SVG written directly (issue 15): a page with several trends
    must stay fast (Altair + vl-convert costs hundreds of milliseconds a chart). Band edges are faint rules.

    ``points``: ``[{"at": datetime, "total": 12}, ...]`` in time order; ``bands``: ``[{"low", "label"}]``.
    """
    from html import escape

    left, right, top, bottom = 44, 12, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [p["at"].timestamp() for p in points]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return left + (plot_w / 2 if t1 == t0 else (t - t0) / span * plot_w)

    def y(v: float) -> float:
        return top + plot_h - (v / max_total) * plot_h if max_total else top + plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" font-family="sans-serif" font-size="11"><title>{escape(title)} totals over time</title>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#bdbdbd"/>']
    for band in bands or []:
        if 0 < band["low"] <= max_total:
            yy = y(band["low"])
            parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#9e9e9e" '
                         f'stroke-dasharray="2 3"/><text x="{left + plot_w - 2}" y="{yy - 2:.1f}" text-anchor="end" '
                         f'fill="#616161">{escape(str(band.get("label", "")))}</text>')
    for value in (0, max_total):
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#424242">{value}</text>')
    coords = [(x(t), y(float(p["total"]))) for t, p in zip(times, points, strict=True)]
    if len(coords) > 1:
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#0d47a1" stroke-width="2"/>')
    for (cx, cy), p in zip(coords, points, strict=True):
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#0d47a1"><title>{p["at"]:%d %b %Y}: '
                     f'{p["total"]}</title></circle>')
    if points:
        parts.append(f'<text x="{left}" y="{height - 8}" fill="#424242">{points[0]["at"]:%d %b %Y}</text>')
        if len(points) > 1:
            parts.append(f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" fill="#424242">'
                         f'{points[-1]["at"]:%d %b %Y}</text>')
    parts.append("</svg>")
    return "".join(parts)
