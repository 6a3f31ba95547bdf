"""The pre-infusion checklist: every item met and unmet, at and around its threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ketaclinic.clinical.checklist import (
    RULES,
    ChecklistFacts,
    ChecklistPolicy,
    ready_to_start,
    run_checklist,
)
from ketaclinic.evidence.sources import get_source

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def facts(**changes: object) -> ChecklistFacts:
    base: dict = {
        "now": NOW,
        "fasting": {
            "asked": True,
            "last_clear_liquid_at": NOW - timedelta(hours=3),
            "last_light_meal_at": NOW - timedelta(hours=10),
        },
        "escort_present": True,
        "consent_signed": True,
        "baseline_vitals": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_pct": 98},
        "baseline_vitals_at": NOW - timedelta(minutes=10),
        "can_become_pregnant": False,
        "urinary_symptoms": "none",
    }
    base.update(changes)
    return ChecklistFacts.model_validate(base)


def item(checklist: list, code: str):
    return next(i for i in checklist if i.code == code)


def test_a_complete_checklist_is_ready() -> None:
    items = run_checklist(facts())
    assert ready_to_start(items)
    assert all(i.met for i in items)
    for i in items:
        get_source(i.source)


@pytest.mark.parametrize(
    ("kind", "hours", "met"),
    [
        ("last_clear_liquid_at", 1.99, False),
        ("last_clear_liquid_at", 2.0, True),
        ("last_light_meal_at", 5.9, False),
        ("last_light_meal_at", 6.0, True),
        ("last_non_human_milk_at", 5.5, False),
        ("last_non_human_milk_at", 6.0, True),
        ("last_fatty_meal_at", 7.9, False),
        ("last_fatty_meal_at", 8.0, True),
    ],
)
def test_fasting_times_follow_asa(kind: str, hours: float, met: bool) -> None:
    items = run_checklist(facts(fasting={"asked": True, kind: NOW - timedelta(hours=hours)}))
    fasting = item(items, "fasting")
    assert fasting.met is met
    assert fasting.source == "asa_fasting2017"
    assert ready_to_start(items) is met
    if not met:
        assert "ready at" in fasting.message


def test_fasting_not_asked_blocks() -> None:
    fasting = item(run_checklist(facts(fasting={"asked": False})), "fasting")
    assert not fasting.met and fasting.blocking


def test_fasting_times_are_configurable() -> None:
    strict = ChecklistPolicy(fasting_hours={"clear_liquid": 4, "light_meal": 8, "fatty_meal": 8, "non_human_milk": 6})
    assert not item(run_checklist(facts(), strict), "fasting").met  # clear liquids 3 h ago


@pytest.mark.parametrize(
    ("field", "code"),
    [("escort_present", "escort_present"), ("consent_signed", "consent_signed")],
)
def test_escort_and_consent_block(field: str, code: str) -> None:
    items = run_checklist(facts(**{field: False}))
    assert not item(items, code).met
    assert not ready_to_start(items)


@pytest.mark.parametrize(
    ("sbp", "dbp", "held"),
    [(159, 99, False), (160, 90, True), (150, 100, True), (159.9, 99.9, False)],
)
def test_baseline_blood_pressure_hold(sbp: float, dbp: float, held: bool) -> None:
    vitals = {"systolic_mmhg": sbp, "diastolic_mmhg": dbp, "heart_rate_bpm": 74, "spo2_pct": 98}
    items = run_checklist(facts(baseline_vitals=vitals))
    assert item(items, "baseline_bp_hold").met is not held
    assert ready_to_start(items) is not held


def test_blood_pressure_above_label_guide_is_advisory_only() -> None:
    vitals = {"systolic_mmhg": 150, "diastolic_mmhg": 85, "heart_rate_bpm": 74, "spo2_pct": 98}
    items = run_checklist(facts(baseline_vitals=vitals))
    advisory = item(items, "baseline_bp_elevated")
    assert not advisory.met and not advisory.blocking
    assert advisory.source == "spravato_bp_medinfo"
    assert ready_to_start(items)
    assert all(i.code != "baseline_bp_elevated" for i in run_checklist(facts()))


def test_missing_or_stale_baseline_vitals_block() -> None:
    missing = run_checklist(facts(baseline_vitals=None, baseline_vitals_at=None))
    assert not item(missing, "baseline_vitals").met and not ready_to_start(missing)
    assert item(run_checklist(facts(baseline_vitals_at=NOW - timedelta(minutes=60))), "baseline_vitals").met
    assert not item(run_checklist(facts(baseline_vitals_at=NOW - timedelta(minutes=61))), "baseline_vitals").met


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({"can_become_pregnant": False}, True),
        ({"can_become_pregnant": True}, False),
        ({"can_become_pregnant": True, "pregnancy_test": "negative", "pregnancy_test_at": NOW - timedelta(days=2)}, True),
        ({"can_become_pregnant": True, "pregnancy_test": "negative", "pregnancy_test_at": NOW - timedelta(days=7)}, True),
        ({"can_become_pregnant": True, "pregnancy_test": "negative", "pregnancy_test_at": NOW - timedelta(days=8)}, False),
        ({"can_become_pregnant": True, "pregnancy_test": "positive", "pregnancy_test_at": NOW - timedelta(hours=1)}, False),
    ],
)
def test_pregnancy_test(changes: dict, met: bool) -> None:
    pregnancy = item(run_checklist(facts(**changes)), "pregnancy_test")
    assert pregnancy.met is met and pregnancy.blocking
    assert pregnancy.source == "asra2018"


@pytest.mark.parametrize(("answer", "met"), [("none", True), ("present", False), ("not_asked", False)])
def test_urinary_symptoms(answer: str, met: bool) -> None:
    urinary = item(run_checklist(facts(urinary_symptoms=answer)), "urinary_symptoms")
    assert urinary.met is met
    assert urinary.source == "chan2022_uropathy"
    if answer == "present":
        assert "hold ketamine" in urinary.message


@pytest.mark.parametrize(
    ("required", "result", "met"),
    [(False, "not_done", True), (True, "normal", True), (True, "abnormal", False), (True, "pending", False), (True, "not_done", False)],
)
def test_liver_tests_when_follow_up_asks(required: bool, result: str, met: bool) -> None:
    liver = item(run_checklist(facts(liver_tests_required=required, liver_tests=result)), "liver_tests")
    assert liver.met is met
    assert liver.source == "noppers2011"


def test_inconsistent_facts_are_refused() -> None:
    with pytest.raises(ValidationError, match="after now"):
        facts(fasting={"asked": True, "last_light_meal_at": NOW + timedelta(hours=1)})
    with pytest.raises(ValidationError, match="together"):
        facts(baseline_vitals_at=None)
    with pytest.raises(ValidationError, match="pregnancy_test_at"):
        facts(can_become_pregnant=True, pregnancy_test="negative")
    with pytest.raises(ValidationError):
        facts(now=datetime(2025, 3, 10, 9, 0))  # a time without its zone is ambiguous
    with pytest.raises(ValidationError):
        facts(escort=True)


def test_rules_cover_every_item() -> None:
    produced = {i.code for i in run_checklist(facts(baseline_vitals={"systolic_mmhg": 150, "diastolic_mmhg": 85,
                                                                     "heart_rate_bpm": 74, "spo2_pct": 98}))}
    assert produced <= {r.code for r in RULES}


# --- absolute SpO2 and heart rate (issue 11): blocking until a physician records why ------------------


def vitals(spo2: float = 98, hr: float = 74) -> dict:
    return {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": hr, "spo2_pct": spo2}


def physician_override(code: str, reason: str = "Chronic COPD, SpO2 90 % is her baseline; anaesthetist present") -> dict:
    return {"code": code, "reason": reason, "by": "dr.grey", "role": "physician", "at": NOW}


@pytest.mark.parametrize(("spo2", "blocked"), [(91.9, True), (90, True), (92, False), (99, False)])
def test_baseline_spo2_below_92_blocks(spo2: float, blocked: bool) -> None:
    items = run_checklist(facts(baseline_vitals=vitals(spo2=spo2)))
    spo2_item = item(items, "baseline_spo2_low")
    assert spo2_item.met is not blocked and spo2_item.blocking and spo2_item.overridable
    assert ready_to_start(items) is not blocked


@pytest.mark.parametrize(("hr", "blocked"), [(110, False), (110.1, True), (150, True), (60, False)])
def test_baseline_heart_rate_above_110_blocks(hr: float, blocked: bool) -> None:
    items = run_checklist(facts(baseline_vitals=vitals(hr=hr)))
    assert item(items, "baseline_tachycardia").met is not blocked
    assert ready_to_start(items) is not blocked


def test_a_physician_override_clears_the_item_and_is_recorded() -> None:
    items = run_checklist(facts(baseline_vitals=vitals(spo2=90),
                                overrides=[physician_override("baseline_spo2_low")]))
    spo2_item = item(items, "baseline_spo2_low")
    assert not spo2_item.met  # the reading stays on record as unmet
    assert spo2_item.override == {"by": "dr.grey", "role": "physician",
                                  "reason": "Chronic COPD, SpO2 90 % is her baseline; anaesthetist present",
                                  "at": NOW.isoformat()}
    assert "Overridden by dr.grey" in spo2_item.message
    assert ready_to_start(items)
    assert item(items, "baseline_spo2_low").as_dict()["override"]["by"] == "dr.grey"


def test_an_override_covers_only_its_own_item() -> None:
    items = run_checklist(facts(baseline_vitals=vitals(spo2=90, hr=130),
                                overrides=[physician_override("baseline_spo2_low")]))
    assert not ready_to_start(items)
    assert [i.code for i in items if i.blocking and not i.cleared] == ["baseline_tachycardia"]


def test_an_override_of_a_met_item_changes_nothing() -> None:
    items = run_checklist(facts(overrides=[physician_override("baseline_tachycardia")]))
    assert item(items, "baseline_tachycardia").override is None and ready_to_start(items)


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "nurse"},  # only a physician overrides
        {"reason": "   "},  # a reason is required
        {"code": "baseline_bp_hold"},  # the blood-pressure hold cannot be overridden
        {"code": "escort_present"},
    ],
)
def test_overrides_are_physician_only_with_a_reason_and_only_for_spo2_or_heart_rate(bad: dict) -> None:
    with pytest.raises(ValidationError):
        facts(baseline_vitals=vitals(spo2=90), overrides=[{**physician_override("baseline_spo2_low"), **bad}])


def test_blood_pressure_hold_still_blocks_with_overrides_present() -> None:
    bp = {"systolic_mmhg": 170, "diastolic_mmhg": 95, "heart_rate_bpm": 130, "spo2_pct": 90}
    items = run_checklist(facts(baseline_vitals=bp, overrides=[physician_override("baseline_spo2_low"),
                                                               physician_override("baseline_tachycardia")]))
    assert not ready_to_start(items)
    assert [i.code for i in items if i.blocking and not i.cleared] == ["baseline_bp_hold"]


def test_removing_the_spo2_guard_makes_the_guard_test_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutation check: with the SpO2/HR items switched off, the blocking tests above no longer pass."""
    from ketaclinic.clinical import checklist

    def always_met(v, policy):  # type: ignore[no-untyped-def]
        return checklist.ChecklistItem("baseline_spo2_low", True, "", "clinic_policy", True, overridable=True)

    monkeypatch.setattr(checklist, "_baseline_spo2", always_met)
    with pytest.raises(AssertionError):
        test_baseline_spo2_below_92_blocks(90, True)
    monkeypatch.setattr(checklist, "_baseline_heart_rate",
                        lambda v, p: checklist.ChecklistItem("baseline_tachycardia", True, "", "clinic_policy", True))
    with pytest.raises(AssertionError):
        test_baseline_heart_rate_above_110_blocks(150, True)
