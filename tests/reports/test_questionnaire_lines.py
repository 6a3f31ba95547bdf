"""The questionnaire lines of the course letter and the patient summary (issue 15), rendered by the templates."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment, FileSystemLoader, StrictUndefined

import ketaclinic.reports as reports_package
from ketaclinic.reports.questionnaires import PromLine, prom_context

A, B = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)


def test_change_mcid_and_pgic_last():
    lines = (PromLine("pgic", "PGIC", 1, 2, B, 2, B, "Much improved", 7, None, "dworkin2008_immpact"),
             PromLine("phq9", "PHQ-9", 3, 18, A, 11, B, "Moderate", 27, 5, "lowe2004_phq9_change"),
             PromLine("gad7", "GAD-7", 2, 10, A, 8, B, "Mild", 21, 4, "toussaint2020_gad7_mcid"))
    context = prom_context(lines)
    assert [c["name"] for c in context] == ["GAD-7", "PHQ-9", "PGIC"]
    assert (context[1]["change"], context[1]["improved"], context[0]["improved"]) == (-7, True, False)
    env = Environment(loader=FileSystemLoader(f"{reports_package.__path__[0]}/templates"), undefined=StrictUndefined)
    html = env.get_template("_questionnaires.html").render(questionnaires=context)
    assert "an important improvement (at least 5 points)" in html and "Much improved" in html and "-7" in html
    assert env.get_template("_questionnaires.html").render(questionnaires=[]).strip() == ""


def test_the_trend_svg_is_written_directly_and_quickly():
    import time
    from xml.etree import ElementTree

    from ketaclinic.charts import questionnaire_trend_svg

    points = [{"at": A, "total": 18}, {"at": B, "total": 9}]
    started = time.perf_counter()
    svg = questionnaire_trend_svg(points, 27, "PHQ-9", [{"low": 5, "label": "Mild"}, {"low": 10, "label": "Moderate"}])
    assert time.perf_counter() - started < 0.05
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{ns}title").text == "PHQ-9 totals over time"
    assert len(root.findall(f"{ns}circle")) == 2 and root.find(f"{ns}polyline") is not None
    ys = [float(c.get("cy")) for c in root.findall(f"{ns}circle")]
    assert ys[0] < ys[1]  # 18 is drawn above 9
    assert "<polyline" not in questionnaire_trend_svg(points[:1], 27, "PHQ-9")
