"""RxNorm ingredient codes of the adjunct library (issue 14), as the FHIR export writes them on each
MedicationAdministration of a PRN dose, with where each code was confirmed.

RxNorm ingredient concepts (term type IN) by RxCUI; the display is RxNorm's ingredient name. A code is
written only if it was found in at least one published table naming the concept; the ``checked`` column
says which. Ketamine's own RxNorm code was not confirmed (interop/fhir_codes.py): not written.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketaclinic.interop.fhir_codes import Code

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True)
class CheckedCode:
    code: Code
    checked: str


ADJUNCT_RXNORM: dict[str, CheckedCode] = {
    "ondansetron": CheckedCode(Code(RXNORM, "26225", "ondansetron"),
                               "CPIC drug table (cpicpgx/cpic-schema drug.sql: RxNorm:26225 ondansetron, PharmGKB PA450705)"),
    "midazolam": CheckedCode(Code(RXNORM, "6960", "midazolam"),
                             "CPIC drug table (cpicpgx/cpic-schema drug.sql: RxNorm:6960 midazolam, PharmGKB PA450496)"),
    "labetalol": CheckedCode(Code(RXNORM, "6185", "labetalol"),
                             "OMOP concept table (concept 1386957 'labetalol', RxNorm 6185, standard)"),
    "clonidine": CheckedCode(Code(RXNORM, "2599", "clonidine"),
                             "an RxNorm lookup table (2599 clonidine; 884185 clonidine hydrochloride 0.2 mg oral tablet)"),
    "glycopyrrolate": CheckedCode(Code(RXNORM, "4955", "glycopyrrolate"),
                                  "an ingredient map ('Glycopyrrolate|4955', beside Albuterol|435, which the CPIC table "
                                  "confirms); 4850 is glucose, not glycopyrrolate"),
}

ALL_ADJUNCT_CODES: tuple[Code, ...] = tuple(c.code for c in ADJUNCT_RXNORM.values())


def adjunct_code(drug_id: str) -> Code | None:
    found = ADJUNCT_RXNORM.get(drug_id)
    return None if found is None else found.code
