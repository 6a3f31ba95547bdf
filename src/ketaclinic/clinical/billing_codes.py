"""The superbill's codes, computed from what was recorded (issue 15; contract 4.11 ``ketaclinic codes``).

Pure: minutes, counts and the drug given in, code lines out. Nothing here is typed by a person except
the E/M level, which the physician chooses (KetaClinic never infers it).

Rules and their sources (evidence ids; ``convention`` where no published rule decides):

- **Infusion time** (``ama_cpt_infusion``): 96365 is the initial infusion "up to 1 hour"; 96366 "each
  additional hour" is counted only for an interval *greater than* 30 minutes beyond the previous hour
  increment. So 16-90 min is 96365 alone; 91-150 min adds one 96366; 151-210 min two; and so on. An
  "infusion" of 15 minutes or less is a push (``ama_cpt_infusion``, ``cms_claims_manual_ch12_drug_admin``).
- **Pushes** (``ama_cpt_infusion``): one initial service per encounter; the infusion outranks a push, so
  with an infusion every push of a new substance is 96375; without one the first push is 96374 and each
  further push of a new substance 96375. A repeated push of the same drug (96376) is for hospital
  outpatient facilities only (``cms_claims_manual_ch12_drug_admin``), so an office never bills it:
  ``iv_pushes`` counts pushes of *different* substances (convention of this module, stated on the line).
- **Drug** (``hcpcs_j3490_noc``): ketamine has no specific HCPCS drug code, so it is J3490 "unclassified
  drugs", billed as ONE unit of service with the drug's name, total dose and NDC in the narrative; the
  NDC is written in its 11-digit 5-4-2 form with the quantity in milligrams (``ndc_11_digit_hipaa``:
  ``N4<ndc>ME<mg>``, the qualifier being a convention of electronic claims).
- **E/M** (``ama_cpt_em_2021``): one of 99202-99205 (new patient) or 99211-99215 (established), chosen by
  the physician.
- **Place of service** (``cms_pos_codes``): the site's code, 11 (office) unless the site says otherwise.
- **NPI** (``cms_npi_check_digit``): ten digits, the last a Luhn check digit with the 80840 prefix.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ketaclinic.evidence.sources import CLINIC_POLICY, ref

INFUSION_SOURCE = ref("ama_cpt_infusion")
CMS_DRUG_ADMIN_SOURCE = ref("cms_claims_manual_ch12_drug_admin")
J3490_SOURCE = ref("hcpcs_j3490_noc")
NDC_SOURCE = ref("ndc_11_digit_hipaa")
EM_SOURCE = ref("ama_cpt_em_2021")
POS_SOURCE = ref("cms_pos_codes")
NPI_SOURCE = ref("cms_npi_check_digit")
ICD10CM_SOURCE = ref("icd10cm")

#: An infusion of this many minutes or less is a push (CPT: "an infusion of 15 minutes or less").
PUSH_MAX_MIN = 15
#: The first hour, reported once with 96365.
FIRST_HOUR_MIN = 60
#: 96366 counts an interval only when it is more than this many minutes beyond the previous hour increment.
ADDITIONAL_HOUR_THRESHOLD_MIN = 30
#: Bounds of the input (clinic policy: a day's infusion; far beyond any pump program of the low-dose library).
MAX_INFUSION_MIN = 24 * 60
MAX_PUSHES = 50
MAX_DRUG_MG = 100_000

DESCRIPTIONS: dict[str, str] = {
    "96365": "Intravenous infusion, for therapy, prophylaxis, or diagnosis; initial, up to 1 hour",
    "96366": "Intravenous infusion, for therapy, prophylaxis, or diagnosis; each additional hour",
    "96374": "Therapeutic, prophylactic, or diagnostic injection; intravenous push, single or initial substance/drug",
    "96375": "Therapeutic, prophylactic, or diagnostic injection; each additional sequential intravenous push of a "
             "new substance/drug",
    "J3490": "Unclassified drugs",
    "99202": "Office or other outpatient visit, new patient, straightforward medical decision making",
    "99203": "Office or other outpatient visit, new patient, low level of medical decision making",
    "99204": "Office or other outpatient visit, new patient, moderate level of medical decision making",
    "99205": "Office or other outpatient visit, new patient, high level of medical decision making",
    "99211": "Office or other outpatient visit, established patient, may not require a physician",
    "99212": "Office or other outpatient visit, established patient, straightforward medical decision making",
    "99213": "Office or other outpatient visit, established patient, low level of medical decision making",
    "99214": "Office or other outpatient visit, established patient, moderate level of medical decision making",
    "99215": "Office or other outpatient visit, established patient, high level of medical decision making",
}
EM_CODES: tuple[str, ...] = ("99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215")
PLACES_OF_SERVICE: dict[str, str] = {
    "11": "Office",
    "19": "Off-campus outpatient hospital",
    "22": "On-campus outpatient hospital",
    "24": "Ambulatory surgical center",
}
DEFAULT_PLACE_OF_SERVICE = "11"


class BillingInputError(ValueError):
    """Input the coding rules cannot take; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- the time rule ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfusionUnits:
    """What an infusion of ``minutes`` reports: 96365 once (or a push when 15 minutes or less) and 96366 units."""

    minutes: float
    is_push: bool  # 15 minutes or less: a push, not an infusion
    initial: int  # 96365: 0 or 1
    additional: int  # 96366 units


def infusion_units(minutes: float) -> InfusionUnits:
    """Count 96365 / 96366 by the CPT time rule (``ama_cpt_infusion``).

    - 0 minutes: nothing; 0 < minutes <= 15: a push (96374 or 96375, see :func:`code_lines`);
    - more than 15 minutes: 96365 once, "up to 1 hour";
    - 96366 once for each hour increment beyond the first that the infusion runs *more than* 30 minutes
      into: unit k (k = 1, 2, ...) counts when ``minutes > 60 * k + 30``, so 90 min gives none, 91 one,
      150 one, 151 two.
    """
    if not math.isfinite(minutes) or minutes < 0:
        raise BillingInputError("infusion_minutes must be a number of minutes, 0 or more", "infusion_minutes")
    if minutes == 0:
        return InfusionUnits(minutes, False, 0, 0)
    if minutes <= PUSH_MAX_MIN:
        return InfusionUnits(minutes, True, 0, 0)
    beyond = minutes - FIRST_HOUR_MIN - ADDITIONAL_HOUR_THRESHOLD_MIN
    additional = math.ceil(beyond / FIRST_HOUR_MIN) if beyond > 0 else 0
    return InfusionUnits(minutes, False, 1, additional)


# --- NDC and NPI ----------------------------------------------------------------------------------------

_NDC_HYPHENATED = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


def ndc_11(ndc: str) -> str:
    """The NDC in its 11-digit 5-4-2 form with hyphens (``ndc_11_digit_hipaa``).

    Accepts the FDA's 10-digit forms with hyphens (4-4-2, 5-3-2, 5-4-1; the short segment is padded with a
    leading zero), the 5-4-2 form, or 11 digits without hyphens. Ten digits without hyphens are refused:
    which segment to pad cannot be known.
    """
    text = ndc.strip()
    if re.fullmatch(r"\d{11}", text):
        return f"{text[:5]}-{text[5:9]}-{text[9:]}"
    if re.fullmatch(r"\d{10}", text):
        raise BillingInputError("a 10-digit NDC without hyphens is ambiguous: write it with its hyphens as on the "
                                "label (4-4-2, 5-3-2 or 5-4-1)", "ndc")
    match = _NDC_HYPHENATED.match(text)
    if not match:
        raise BillingInputError("ndc must be a National Drug Code: 10 digits with hyphens as on the label (4-4-2, "
                                "5-3-2, 5-4-1) or 11 digits (5-4-2)", "ndc")
    labeler, product, package = match.groups()
    if len(labeler) + len(product) + len(package) not in (10, 11) or (len(labeler), len(product), len(package)) \
            not in ((4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)):
        raise BillingInputError("ndc segments must be 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits", "ndc")
    return f"{labeler.zfill(5)}-{product.zfill(4)}-{package.zfill(2)}"


def npi_check_digit(first_nine: str) -> int:
    """The Luhn check digit of an NPI's first nine digits, with the 80840 prefix's constant 24 (``cms_npi_check_digit``)."""
    if not re.fullmatch(r"\d{9}", first_nine):
        raise BillingInputError("the NPI's first part is nine digits", "npi")
    total = 24
    for position, char in enumerate(reversed(first_nine)):
        digit = int(char)
        if position % 2 == 0:  # alternate digits doubled, beginning with the rightmost
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


def valid_npi(npi: str) -> bool:
    """True when ``npi`` is ten digits whose last is the Luhn check digit of the first nine."""
    return bool(re.fullmatch(r"\d{10}", npi)) and npi_check_digit(npi[:9]) == int(npi[9])


def clean_npi(value: str | None) -> str | None:
    """A typed NPI (spaces allowed) checked and returned as ten digits; blank is None; a wrong one raises."""
    if value is None:
        return None
    text = re.sub(r"\s+", "", value)
    if not text:
        return None
    if not re.fullmatch(r"\d{10}", text):
        raise BillingInputError("an NPI is 10 digits", "npi")
    if not valid_npi(text):
        raise BillingInputError("this NPI's check digit is wrong (CMS Luhn check): look at it again", "npi")
    return text


# --- the lines -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeLine:
    """One line of the superbill's coding: what, how many, in words, and the rule's source."""

    code: str
    units: int
    description: str
    source: str
    kind: str = "service"  # service | drug | evaluation
    note: str = ""

    def as_contract(self) -> dict[str, Any]:
        return {"code": self.code, "units": self.units, "description": self.description, "source": self.source}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CodesRequest(BaseModel):
    """Contract 4.11 ``ketaclinic codes``: what was recorded about one encounter."""

    model_config = ConfigDict(extra="forbid")
    infusion_minutes: float = Field(ge=0, le=MAX_INFUSION_MIN, allow_inf_nan=False,
                                    description="minutes from the infusion's start to its stop, as recorded")
    iv_pushes: int = Field(default=0, ge=0, le=MAX_PUSHES,
                           description="IV pushes of different substances (a repeated push of the same drug is not "
                                       "billed by an office)")
    drug_mg: float = Field(default=0, ge=0, le=MAX_DRUG_MG, allow_inf_nan=False,
                           description="ketamine given, mg (J3490)")
    ndc: str | None = Field(default=None, max_length=20, validate_default=True,
                            description="the NDC of the ketamine given (J3490 needs it)")
    drug_name: str = Field(default="ketamine hydrochloride", min_length=1, max_length=100)
    em_code: str | None = Field(default=None, description="the E/M level the physician chose (99202-99205, 99211-99215)")

    @field_validator("ndc")
    @classmethod
    def _ndc(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value.strip():
            if re.fullmatch(r"\d{10}", value.strip()):  # a valid NDC, kept as given (its 11-digit form is ambiguous)
                return value.strip()
            try:
                ndc_11(value)
            except BillingInputError as error:
                raise ValueError(str(error)) from None
            return value.strip()
        if (info.data.get("drug_mg") or 0) > 0:
            raise ValueError("required when drug_mg is given: J3490 (unclassified drug) is filed with the drug's NDC")
        return None

    @field_validator("em_code")
    @classmethod
    def _em(cls, value: str | None) -> str | None:
        if value is not None and value not in EM_CODES:
            raise ValueError(f"must be one of {', '.join(EM_CODES)} (office or outpatient visit, chosen by the physician)")
        return value


def _mg_text(mg: float) -> str:
    return f"{mg:.1f}".rstrip("0").rstrip(".")


def code_lines(request: CodesRequest) -> list[CodeLine]:
    """The code lines for one encounter: E/M (when chosen), infusion, pushes, drug."""
    lines: list[CodeLine] = []
    if request.em_code:
        lines.append(CodeLine(request.em_code, 1, DESCRIPTIONS[request.em_code], EM_SOURCE, "evaluation",
                              "level chosen by the physician"))
    infusion = infusion_units(request.infusion_minutes)
    if infusion.initial:
        lines.append(CodeLine("96365", 1, DESCRIPTIONS["96365"] + f" ({_mg_text(infusion.minutes)} min recorded)",
                              INFUSION_SOURCE))
    if infusion.additional:
        lines.append(CodeLine("96366", infusion.additional, DESCRIPTIONS["96366"] + " (counted for each interval of "
                              "more than 30 min beyond a 1-hour increment)", INFUSION_SOURCE))
    pushes = request.iv_pushes + (1 if infusion.is_push else 0)
    if pushes:
        if infusion.initial:  # the infusion is the initial service; every push is sequential
            lines.append(CodeLine("96375", pushes, DESCRIPTIONS["96375"], INFUSION_SOURCE,
                                  note="pushes of different substances; a repeated push of the same drug is not "
                                       "billed by an office (96376 is facility-only)"))
        else:
            note = f"an infusion of {_mg_text(infusion.minutes)} min (15 min or less) is a push" if infusion.is_push else ""
            lines.append(CodeLine("96374", 1, DESCRIPTIONS["96374"], INFUSION_SOURCE, note=note))
            if pushes > 1:
                lines.append(CodeLine("96375", pushes - 1, DESCRIPTIONS["96375"], INFUSION_SOURCE))
    if request.drug_mg > 0:
        assert request.ndc is not None
        mg = _mg_text(request.drug_mg)
        if re.fullmatch(r"\d{10}", request.ndc):
            ndc_words = f"NDC {request.ndc} (10 digits without hyphens: write it as on the label for the 11-digit " \
                        f"claim form), {mg} mg"
        else:
            ndc = ndc_11(request.ndc)
            ndc_words = f"NDC {ndc} (N4{ndc.replace('-', '')} ME{mg})"
        lines.append(CodeLine(
            "J3490", 1, f"{DESCRIPTIONS['J3490']}: {request.drug_name} {mg} mg IV, {ndc_words}", J3490_SOURCE, "drug",
            "one unit of service; the dose and NDC in the narrative (WPS, CGS)"))
    return lines


def codes_document(request: CodesRequest) -> dict[str, Any]:
    """The contract's answer: ``{"lines": [{"code", "units", "description", "source"}]}``."""
    return {"lines": [line.as_contract() for line in code_lines(request)]}


#: Rules of this module that are conventions, not published rules (shown on the superbill's notes).
CONVENTIONS: tuple[tuple[str, str], ...] = (
    ("infusion_minutes", "Infusion minutes run from the recorded start of the infusion to its recorded stop "
                         "(session start and stop events); interruptions are not subtracted."),
    ("iv_pushes", "Each IV medication other than ketamine recorded during an infused session is counted as one push "
                  "of a new substance; repeated doses of one drug count once; extra IV ketamine during the "
                  "infusion is part of the infused drug (J3490), not a push."),
    ("rendering", "The rendering clinician of an infusion is the physician who signed the plan the pump ran "
                  "(the supervising physician); of an evaluation, the physician who signed it."),
    ("adjuncts", "Adjunct drugs are charged from the price list without a HCPCS code: their specific codes are not "
                 "computed by KetaClinic."),
    ("prices", "Every price is the clinic's own (clinic policy)."),
)
CONVENTION_SOURCE = CLINIC_POLICY
