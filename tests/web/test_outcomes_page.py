"""The outcomes page on the demo clinic: each condition beside its own trials, mixed series once."""

from __future__ import annotations

from ketaclinic.clock import utcnow
from ketaclinic.demo import seed_demo
from tests.web.conftest import sign_in


def test_each_condition_shows_its_own_trials_and_the_mixed_series_once(web, db, settings):
    from pydantic import SecretStr

    seed_demo(db, settings.model_copy(update={"demo_password": SecretStr("demo-password-long")}), now=utcnow(),
              patients=16)
    sign_in(web, "physician", "demo-password-long")
    page = web.get("/outcomes").text
    table = page.split("By condition, beside published results")[1]
    assert table.count("[patil2012]") == 1  # the mixed series, listed once below the table
    assert "Mixed-diagnosis series" in table
    rows = table.split("<tr>")[2:]
    crps = [r for r in rows if "Complex regional pain syndrome" in r]
    for row in crps:  # (16 demo patients may or may not include an assessable CRPS course)
        assert "[correll2004]" in row and "[sigtermans2009_pain]" in row
    others = [r for r in rows if "Complex regional pain syndrome" not in r]
    assert others and all("see the mixed series below" in r for r in others)
