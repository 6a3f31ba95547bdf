"""The adjunct drug library and its order/dose checks (pure; issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.clinical import drug_library as dl
from ketaclinic.clinical.monitoring import DEFAULT_ALERT_RULES
from ketaclinic.clinical.protocols import get_protocol
from ketaclinic.evidence.sources import CLINIC_POLICY, get_source

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def terms(**changes) -> dl.OrderTerms:
    base = {"drug": "ondansetron", "dose_mg": 4.0, "route": "iv", "indication": "nausea_vomiting",
            "max_doses_per_session": 2, "min_interval_min": 30.0}
    return dl.OrderTerms(**{**base, **changes})


def test_the_library_holds_the_adjuncts_and_the_protocol_premedication_with_sources():
    assert set(dl.ADJUNCT_IDS) == {"ondansetron", "midazolam", "clonidine", "labetalol", "glycopyrrolate"}
    for drug in dl.ADJUNCTS:
        for bound in (drug.usual_dose_mg, drug.dose_soft_max_mg, drug.dose_hard_max_mg, drug.session_soft_max_mg,
                      drug.session_hard_max_mg, drug.min_interval_min):
            source = get_source(bound.source)
            assert bound.why and (source.id == CLINIC_POLICY or source.kind == "label" or source.kind == "trial")
        assert drug.usual_dose_mg.source != CLINIC_POLICY  # every usual dose comes from the label
    # Schwartzman 2009 premedicated with midazolam 2 mg IV and clonidine 0.1 mg by mouth: both orderable as such
    assert "midazolam 2 mg IV and clonidine 0.1 mg by mouth" in " ".join(get_protocol("schwartzman2009").cautions)
    dl.check_order(terms(drug="midazolam", dose_mg=2, indication="premedication", max_doses_per_session=1,
                         min_interval_min=5))
    dl.check_order(terms(drug="clonidine", dose_mg=0.1, route="oral", indication="premedication", max_doses_per_session=1,
                         min_interval_min=60))
    assert dl.get_adjunct("midazolam").controlled and not dl.get_adjunct("ondansetron").controlled


@pytest.mark.parametrize(("changes", "code", "field"), [
    ({"dose_mg": 40}, "hard_limit", "dose_mg"),
    ({"dose_mg": 16.01, "max_doses_per_session": 1}, "hard_limit", "dose_mg"),
    ({"max_doses_per_session": 5}, "hard_limit", "max_doses_per_session"),
    ({"route": "im"}, "route_not_allowed", "route"),
    ({"indication": "hypertension"}, "indication_not_allowed", "indication"),
    ({"min_interval_min": 29}, "interval_too_short", "min_interval_min"),
    ({"dose_mg": 8.5, "max_doses_per_session": 1}, "soft_limit", "override_reason"),
    ({"max_doses_per_session": 3}, "soft_limit", "override_reason"),
    ({"drug": "droperidol"}, "unknown_drug", "drug"),
    ({"max_doses_per_session": 11}, "invalid_input", "max_doses_per_session"),
])
def test_an_order_past_a_limit_is_refused(changes, code, field):
    with pytest.raises(dl.MarError) as refused:
        dl.check_order(terms(**changes))
    assert (refused.value.code, refused.value.field) == (code, field)


def test_a_value_at_a_limit_is_within_it_and_a_soft_limit_takes_a_reason():
    assert dl.check_order(terms(dose_mg=8, max_doses_per_session=1)) == ()  # at the soft max: within
    found = dl.check_order(terms(dose_mg=16, max_doses_per_session=1), "large patient, vomiting")  # at the hard max
    assert [f.code for f in found] == ["dose_above_soft_max", "session_above_soft_max"]


def test_a_dose_is_refused_past_the_order_maximum_before_its_interval_and_past_the_drug_session_maximum():
    order = terms()
    first = dl.check_dose(1, order, [], NOW)
    assert (first.number, first.of_max, first.session_total_mg) == (1, 2, 4.0)
    given = [dl.GivenDose("ondansetron", 1, NOW, 4.0)]
    with pytest.raises(dl.MarError) as soon:
        dl.check_dose(1, order, given, NOW + timedelta(minutes=29, seconds=59))
    assert soon.value.code == "interval_not_elapsed"
    assert dl.check_dose(1, order, given, NOW + timedelta(minutes=30)).number == 2  # at the interval: allowed
    given.append(dl.GivenDose("ondansetron", 1, NOW + timedelta(minutes=30), 4.0))
    with pytest.raises(dl.MarError) as most:
        dl.check_dose(1, order, given, NOW + timedelta(hours=2))
    assert most.value.code == "order_max_reached"
    # another order of the same drug: the drug's 16 mg per session still holds across orders
    big = terms(dose_mg=12, max_doses_per_session=1)
    with pytest.raises(dl.MarError) as total:
        dl.check_dose(2, big, given, NOW + timedelta(hours=2))
    assert total.value.code == "hard_limit"
    # the interval counts the last dose of the drug under any order
    with pytest.raises(dl.MarError):
        dl.check_dose(3, terms(max_doses_per_session=1), given, NOW + timedelta(minutes=40))
    for kwargs, code in (({"dose_mg": 8}, "dose_differs_from_order"), ({"route": "oral"}, "route_differs_from_order")):
        with pytest.raises(dl.MarError) as wrong:
            dl.check_dose(1, order, [], NOW, **kwargs)
        assert wrong.value.code == code


def test_alerts_that_call_for_a_drug_offer_the_matching_order():
    codes = {r.code: r for r in DEFAULT_ALERT_RULES}
    assert set(dl.ALERT_INDICATIONS) <= set(codes)  # every mapped alert is a real rule
    assert codes["nausea_vomiting"].action == "give_medication"
    assert {c for c, r in codes.items() if r.action == "give_medication"} <= set(dl.ALERT_INDICATIONS)

    class Order:
        def __init__(self, indication):
            self.indication = indication

    ondansetron, labetalol, midazolam = Order("nausea_vomiting"), Order("hypertension"), Order("psychomimetic_distress")
    orders = [ondansetron, labetalol, midazolam]
    assert dl.orders_for_alert("nausea_vomiting", orders) == [ondansetron]
    assert dl.orders_for_alert("bp_critical", orders) == [labetalol]
    assert dl.orders_for_alert("psychomimetic_distress", orders) == [midazolam]
    assert dl.orders_for_alert("spo2_critical", orders) == []


def test_free_text_names_the_library_drug():
    assert dl.adjunct_named("Ondansetron 4mg").id == "ondansetron"
    assert dl.adjunct_named("midazolam").id == "midazolam"
    assert dl.adjunct_named("acetaminophen") is None
