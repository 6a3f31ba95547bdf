"""A site's price list and the priced lines of an invoice (issue 15). Pure: prices and code lines in, cents out.

Every price is the clinic's own choice (``clinic_policy``); amounts are integer cents so that sums never
drift. The codes come from :mod:`ketaclinic.clinical.billing_codes`; this module only puts a price on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ketaclinic.clinical.billing_codes import (
    DEFAULT_PLACE_OF_SERVICE,
    EM_CODES,
    PLACES_OF_SERVICE,
    BillingInputError,
    CodeLine,
    clean_npi,
    ndc_11,
)
from ketaclinic.evidence.sources import CLINIC_POLICY

PRICE_SOURCE = CLINIC_POLICY
MAX_CENTS = 10_000_000  # 100,000.00 in the list's currency: far beyond any line of a ketamine clinic's bill
Cents = int


def _cents(default: int) -> int:
    return Field(default=default, ge=0, le=MAX_CENTS)  # type: ignore[no-any-return]


class PriceListData(BaseModel):
    """One site's prices (every amount in cents of ``currency``) and what its superbill says about the site."""

    model_config = ConfigDict(extra="forbid")
    currency: Literal["USD"] = "USD"
    place_of_service: str = Field(default=DEFAULT_PLACE_OF_SERVICE,
                                  description="CMS place-of-service code of the site (11: office)")
    billing_npi: str | None = Field(default=None, description="the practice's (type 2) NPI, printed on the superbill")
    tax_id: str | None = Field(default=None, max_length=20, description="the practice's tax id (EIN), printed")
    ketamine_ndc: str = Field(default="0409-2051-05", max_length=20,
                              description="NDC of the ketamine product the site stocks (J3490 is filed with it)")
    evaluation_cents: Cents = _cents(35000)
    em_cents: dict[str, Cents] = Field(default_factory=dict, description="a price per E/M level, over evaluation_cents")
    infusion_first_hour_cents: Cents = _cents(40000)  # 96365
    infusion_additional_hour_cents: Cents = _cents(15000)  # 96366, each unit
    push_initial_cents: Cents = _cents(6000)  # 96374
    push_additional_cents: Cents = _cents(3000)  # 96375, each unit
    drug_pricing: Literal["per_mg", "per_vial"] = "per_mg"
    drug_per_mg_cents: Cents = _cents(10)
    vial_mg: float = Field(default=500, gt=0, le=10000, allow_inf_nan=False)
    vial_cents: Cents = _cents(2500)
    adjunct_cents: dict[str, Cents] = Field(default_factory=dict,
                                            description="price of one dose of an adjunct drug, by drug name")
    no_show_fee_cents: Cents = _cents(10000)

    @field_validator("place_of_service")
    @classmethod
    def _pos(cls, value: str) -> str:
        if value not in PLACES_OF_SERVICE:
            raise ValueError(f"must be one of {', '.join(f'{k} ({v})' for k, v in PLACES_OF_SERVICE.items())}")
        return value

    @field_validator("billing_npi")
    @classmethod
    def _npi(cls, value: str | None) -> str | None:
        try:
            return clean_npi(value)
        except BillingInputError as error:
            raise ValueError(str(error)) from None

    @field_validator("ketamine_ndc")
    @classmethod
    def _ndc(cls, value: str) -> str:
        try:
            return ndc_11(value)
        except BillingInputError as error:
            raise ValueError(str(error)) from None

    @field_validator("em_cents")
    @classmethod
    def _em(cls, value: dict[str, int]) -> dict[str, int]:
        for code, cents in value.items():
            if code not in EM_CODES:
                raise ValueError(f"{code} is not an office visit E/M level ({', '.join(EM_CODES)})")
            if not 0 <= cents <= MAX_CENTS:
                raise ValueError(f"the price of {code} is out of range")
        return value

    @field_validator("adjunct_cents")
    @classmethod
    def _adjuncts(cls, value: dict[str, int]) -> dict[str, int]:
        cleaned: dict[str, int] = {}
        for name, cents in value.items():
            key = " ".join(name.split()).casefold()
            if not key or len(key) > 100:
                raise ValueError("an adjunct's name is 1 to 100 characters")
            if not 0 <= cents <= MAX_CENTS:
                raise ValueError(f"the price of {name} is out of range")
            cleaned[key] = cents
        if len(cleaned) > 50:
            raise ValueError("at most 50 adjuncts")
        return cleaned


DEFAULT_PRICES = PriceListData()


@dataclass(frozen=True)
class PricedLine:
    """One line of an invoice: the code line (or a charge without a code) with its price."""

    code: str
    units: int
    description: str
    source: str
    unit_cents: int
    amount_cents: int
    kind: str = "service"

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "units": self.units, "description": self.description, "source": self.source,
                "unit_cents": self.unit_cents, "amount_cents": self.amount_cents, "kind": self.kind}


def drug_cents(prices: PriceListData, drug_mg: float) -> tuple[int, int, str]:
    """(unit count, amount, how it was counted) for ``drug_mg`` of ketamine: per mg, or per vial opened."""
    if drug_mg <= 0:
        return 0, 0, ""
    if prices.drug_pricing == "per_vial":
        vials = math.ceil(drug_mg / prices.vial_mg - 1e-9)
        return vials, vials * prices.vial_cents, f"{vials} vial(s) of {prices.vial_mg:g} mg"
    return 1, round(drug_mg * prices.drug_per_mg_cents), f"{drug_mg:g} mg at {prices.drug_per_mg_cents} cents/mg"


def price_line(line: CodeLine, prices: PriceListData, *, drug_mg: float = 0.0) -> PricedLine:
    """The price of one code line from the site's list."""
    unit = {"96365": prices.infusion_first_hour_cents, "96366": prices.infusion_additional_hour_cents,
            "96374": prices.push_initial_cents, "96375": prices.push_additional_cents}.get(line.code)
    if unit is not None:
        return PricedLine(line.code, line.units, line.description, line.source, unit, unit * line.units, line.kind)
    if line.code == "J3490":
        _, amount, how = drug_cents(prices, drug_mg)
        return PricedLine(line.code, line.units, f"{line.description}; charged {how}", line.source, amount, amount,
                          "drug")
    if line.code in EM_CODES:
        unit = prices.em_cents.get(line.code, prices.evaluation_cents)
        return PricedLine(line.code, 1, line.description, line.source, unit, unit, "evaluation")
    raise BillingInputError(f"no price rule for code {line.code}", "code")


def adjunct_line(drug: str, doses: int, prices: PriceListData) -> PricedLine | None:
    """An adjunct drug's charge (no HCPCS code: a convention, see billing_codes.CONVENTIONS), or None when unpriced."""
    unit = prices.adjunct_cents.get(" ".join(drug.split()).casefold())
    if unit is None or doses <= 0:
        return None
    return PricedLine("", doses, f"Adjunct drug: {drug} ({doses} dose{'s' if doses > 1 else ''})", PRICE_SOURCE,
                      unit, unit * doses, "adjunct")


def no_show_line(prices: PriceListData) -> PricedLine:
    return PricedLine("", 1, "No-show fee (missed appointment; clinic policy)", PRICE_SOURCE,
                      prices.no_show_fee_cents, prices.no_show_fee_cents, "fee")


def money(cents: int, currency: str = "USD") -> str:
    """``$1,234.50`` (USD) or ``1,234.50 EUR``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    text = f"{whole:,}.{part:02d}"
    return f"{sign}${text}" if currency == "USD" else f"{sign}{text} {currency}"


def parse_money(text: str) -> int:
    """Typed money (``120``, ``120.5``, ``$1,200.00``) as cents; refuses more than two decimals or a negative."""
    cleaned = text.strip().replace(",", "").removeprefix("$").strip()
    if not cleaned:
        raise BillingInputError("type an amount, e.g. 120.00", "amount")
    whole, _, part = cleaned.partition(".")
    if not whole.isdigit() and not (whole == "" and part.isdigit()) or (part and not part.isdigit()) or len(part) > 2:
        raise BillingInputError("an amount is a number with at most two decimals, e.g. 120.00", "amount")
    cents = int(whole or "0") * 100 + int((part + "00")[:2])
    if cents > MAX_CENTS:
        raise BillingInputError("the amount is out of range", "amount")
    return cents
