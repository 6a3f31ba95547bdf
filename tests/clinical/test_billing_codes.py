"""The superbill's coding rules (issue 15): CPT 96365/96366 by the published time rule, pushes, J3490, NDC, NPI.

The time rule is the CPT parenthetical for 96366 (evidence ``ama_cpt_infusion``): "report 96366 for infusion
intervals of greater than 30 minutes beyond 1 hour increments"; an infusion of 15 minutes or less is a push.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ketaclinic.clinical.billing_codes import (
    BillingInputError,
    CodesRequest,
    clean_npi,
    code_lines,
    codes_document,
    infusion_units,
    ndc_11,
    npi_check_digit,
    valid_npi,
)
from ketaclinic.evidence.sources import get_source

RULE = "ama_cpt_infusion"


def units(minutes: float) -> tuple[int, int]:
    u = infusion_units(minutes)
    return u.initial, u.additional


def test_the_time_rule_cites_the_cpt_parenthetical() -> None:
    source = get_source(RULE)
    assert "greater than 30 minutes beyond 1 hour increments" in source.note
    assert {line.source for line in code_lines(CodesRequest(infusion_minutes=151))} == {RULE}


def test_30_min_is_96365_only_ama_cpt_infusion() -> None:
    assert units(30) == (1, 0)


def test_31_min_is_96365_only_ama_cpt_infusion() -> None:
    assert units(31) == (1, 0)


def test_60_min_is_96365_only_ama_cpt_infusion() -> None:
    assert units(60) == (1, 0)


def test_90_min_is_96365_only_30_min_beyond_the_hour_is_not_greater_than_30_ama_cpt_infusion() -> None:
    assert units(90) == (1, 0)


def test_91_min_adds_one_96366_ama_cpt_infusion() -> None:
    assert units(91) == (1, 1)


def test_150_min_is_one_96366_ama_cpt_infusion() -> None:
    assert units(150) == (1, 1)


def test_151_min_is_two_96366_ama_cpt_infusion() -> None:
    assert units(151) == (1, 2)


def test_15_min_or_less_is_a_push_16_is_an_infusion_ama_cpt_infusion() -> None:
    assert infusion_units(15).is_push and units(15) == (0, 0)
    assert not infusion_units(16).is_push and units(16) == (1, 0)
    assert units(0) == (0, 0) and not infusion_units(0).is_push


@pytest.mark.parametrize(("minutes", "additional"), [(210, 2), (211, 3), (270, 3), (271, 4), (90.5, 1)])
def test_each_further_hour_counts_only_past_30_minutes(minutes: float, additional: int) -> None:
    assert infusion_units(minutes).additional == additional


def test_negative_minutes_refused() -> None:
    with pytest.raises(BillingInputError):
        infusion_units(-1)


def test_pushes_with_an_infusion_are_all_sequential_96375() -> None:
    lines = codes_document(CodesRequest(infusion_minutes=60, iv_pushes=2))["lines"]
    assert [(line["code"], line["units"]) for line in lines] == [("96365", 1), ("96375", 2)]


def test_pushes_without_an_infusion_start_with_96374() -> None:
    lines = codes_document(CodesRequest(infusion_minutes=0, iv_pushes=3))["lines"]
    assert [(line["code"], line["units"]) for line in lines] == [("96374", 1), ("96375", 2)]


def test_a_15_minute_infusion_is_the_initial_push() -> None:
    lines = codes_document(CodesRequest(infusion_minutes=12, iv_pushes=1))["lines"]
    assert [(line["code"], line["units"]) for line in lines] == [("96374", 1), ("96375", 1)]


def test_contract_example_151_minutes_280_mg() -> None:
    doc = codes_document(CodesRequest(infusion_minutes=151, iv_pushes=0, drug_mg=280, ndc="0409-2051-05"))
    assert [(line["code"], line["units"]) for line in doc["lines"]] == [("96365", 1), ("96366", 2), ("J3490", 1)]
    j3490 = doc["lines"][-1]
    assert "280 mg" in j3490["description"] and "00409-2051-05" in j3490["description"]
    assert j3490["source"] == "hcpcs_j3490_noc"
    assert all(set(line) == {"code", "units", "description", "source"} for line in doc["lines"])


def test_an_unhyphenated_10_digit_ndc_is_kept_as_given() -> None:
    line = code_lines(CodesRequest(infusion_minutes=60, drug_mg=100, ndc="0409205105"))[-1]
    assert line.code == "J3490" and "NDC 0409205105" in line.description and "100 mg" in line.description


def test_j3490_needs_the_ndc() -> None:
    with pytest.raises(ValidationError, match="ndc"):
        CodesRequest(infusion_minutes=60, drug_mg=100)


def test_em_code_must_be_an_office_visit_level() -> None:
    with pytest.raises(ValidationError):
        CodesRequest(infusion_minutes=0, em_code="99201")  # deleted in 2021
    assert code_lines(CodesRequest(infusion_minutes=0, em_code="99204"))[0].code == "99204"


@pytest.mark.parametrize(("given", "eleven"), [
    ("0409-2051-05", "00409-2051-05"), ("12345-678-90", "12345-0678-90"), ("12345-6789-1", "12345-6789-01"),
    ("12345-6789-01", "12345-6789-01"), ("12345678901", "12345-6789-01"),
])
def test_ndc_to_11_digits(given: str, eleven: str) -> None:
    assert ndc_11(given) == eleven


@pytest.mark.parametrize("bad", ["0409205105", "1234-567-89", "abc", "123-4567-89"])
def test_ambiguous_or_malformed_ndc_refused(bad: str) -> None:
    with pytest.raises(BillingInputError):
        ndc_11(bad)


def test_npi_luhn_cms_example() -> None:
    assert npi_check_digit("123456789") == 3  # the CMS example: 1234567893
    assert valid_npi("1234567893")
    assert not valid_npi("1234567890")
    assert clean_npi(" 1234567893 ") == "1234567893"
    assert clean_npi("") is None
    with pytest.raises(BillingInputError, match="check digit"):
        clean_npi("1234567894")
    with pytest.raises(BillingInputError, match="10 digits"):
        clean_npi("12345")
