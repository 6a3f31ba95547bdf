"""Sources of the superbill's coding rules (issue 15): CPT infusion and push codes, the unclassified-drug
code and its NDC, E/M office visit codes, the place of service and the NPI check digit.

The CPT code book is licensed by the AMA and was not read itself: its rules are taken from coding
references that quote it (``checked="secondary"``). Every source says so in its note.
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="ama_cpt_infusion",
        authors="American Medical Association",
        year=2026,
        title="CPT Professional: Hydration, Therapeutic, Prophylactic, Diagnostic Injections and Infusions "
              "(96360-96379), guidelines and parentheticals for 96365, 96366, 96374, 96375",
        journal="CPT code book (licensed; quoted by AAPC and coding references)",
        kind="standard",
        checked="secondary",
        url="https://www.aapc.com/codes/cpt-codes/96366",
        note="Read as quoted (iframe.ai 96366 reference; AAPC Pulmonology Coding Alert 'infusion codes'; AAPC "
             "Oncology Coding Alert reader question on pushes): 96365 'initial, up to 1 hour'; 96366 'each additional "
             "hour', reported 'for infusion intervals of greater than 30 minutes beyond 1 hour increments' (so 90 min "
             "is 96365 alone, 91 min adds one 96366, 151 min two); an IV push is 'an injection in which the "
             "individual who administers the drug is continuously present ... or an infusion of 15 minutes or less' "
             "(96374 single or initial push, 96375 each additional sequential push of a new substance). One "
             "initial service per encounter (the infusion outranks the push). Some coding sites print a table that "
             "counts 96366 from exactly 30 minutes: the CPT wording 'greater than 30 minutes' is followed here.",
    ),
    Source(
        id="cms_claims_manual_ch12_drug_admin",
        authors="Centers for Medicare & Medicaid Services",
        year=2024,
        title="Medicare Claims Processing Manual, Pub. 100-04, Chapter 12, section 30.5: drug administration "
              "services (initial service, hierarchy, push of 15 minutes or less)",
        journal="CMS Internet-Only Manual",
        kind="guideline",
        checked="secondary",
        url="https://www.cms.gov/regulations-and-guidance/guidance/manuals/downloads/clm104c12.pdf",
        note="Read as summarised by clearcostestimate.com (96374-96376, citing Pub 100-04 ch.12 s30.5): an IV push is an "
             "injection over 15 minutes or less; 96376 (same drug pushed again) is reported by the hospital "
             "outpatient facility only, so an office does not bill a repeated push of the same drug.",
    ),
    Source(
        id="hcpcs_j3490_noc",
        authors="Wisconsin Physicians Service (Medicare administrative contractor); CGS Administrators",
        year=2014,
        title="J3490 (not otherwise classified drug) billing tips: drug name, total dosage, NDC; one unit of service",
        journal="WPS Medicare Part B publications; CGS Part B news 'NOC drugs: clarification on required information'",
        kind="guideline",
        checked="source_text",
        url="http://www.wpsmedicare.com/part_b/publications/j3490_tips.shtml",
        note="HCPCS J3490 'Unclassified drugs' is used when no specific code describes the drug (Novitas, First "
             "Coast NOC pages); ketamine has no specific HCPCS drug code. WPS: list the units of service as one "
             "(CMS-1500 item 24G) and give the name, the total dosage and the method of administration in the "
             "narrative; CGS: claims for J3490 must carry the drug's name, its NDC and the exact dosage. Other "
             "payers may ask for quantity billing: the superbill states the dose and NDC so either can be filed.",
    ),
    Source(
        id="ndc_11_digit_hipaa",
        authors="Centers for Medicare & Medicaid Services (as reported by Medicare Payment and Reimbursement)",
        year=2010,
        title="National Drug Code required for not otherwise classified drug codes; the 11-digit (5-4-2) HIPAA form",
        journal="medicarepaymentandreimbursement.com",
        kind="guideline",
        checked="secondary",
        url="https://medicarepaymentandreimbursement.com/2010/08/where-to-enter-ndc-codes-and-required.html",
        note="The FDA NDC has 10 digits (4-4-2, 5-3-2 or 5-4-1); claims use 11 digits, padding the short segment with "
             "a leading zero. The N4 quantity qualifier for milligrams, ME, is the NCPDP billing unit (HL7 "
             "terminology 'standardBillingUnit'); that qualifier is a convention of electronic claims, not a CPT rule.",
    ),
    Source(
        id="ama_cpt_em_2021",
        authors="American Medical Association",
        year=2021,
        title="CPT 2021 office or other outpatient E/M services 99202-99215 (99201 deleted)",
        journal="CPT code book (licensed; quoted by americanmedicalcoding.com and coding references)",
        kind="standard",
        checked="secondary",
        url="https://www.americanmedicalcoding.com/2021-e-m-visit-cpt-codes/",
        note="New patient 99202-99205 and established patient 99211-99215, the level chosen by medical decision "
             "making or total time on the date. The physician chooses the level; KetaClinic never infers it.",
    ),
    Source(
        id="cms_pos_codes",
        authors="Centers for Medicare & Medicaid Services",
        year=2024,
        title="Place of Service Code Set (11 Office; 19 and 22 off- and on-campus outpatient hospital; 24 ambulatory "
              "surgical center)",
        journal="CMS, cms.gov/medicare/coding-billing/place-of-service-codes",
        kind="standard",
        checked="secondary",
        url="https://www.cms.gov/medicare/coding-billing/place-of-service-codes/code-sets",
        note="POS 11 Office: a location other than a hospital or other facility where the health professional "
             "routinely provides examinations, diagnosis and treatment on an ambulatory basis (as quoted by "
             "whatismedicalinsurancebilling.org and biologyinsights.com).",
    ),
    Source(
        id="cms_npi_check_digit",
        authors="Centers for Medicare & Medicaid Services",
        year=2008,
        title="Requirements for NPI check digit (Luhn formula, modulus 10 double-add-double, prefix 80840)",
        journal="CMS NPI standard (quoted in full on the Student Doctor Network forum; VistA routine XUSNPI)",
        kind="standard",
        checked="secondary",
        url="https://www.cms.gov/Regulations-and-Guidance/Administrative-Simplification/NationalProvIdentStand",
        note="The 10-digit NPI's last digit is a Luhn check digit computed as if the prefix 80840 were present, "
             "which adds the constant 24 to the sum of the first nine digits' Luhn terms. CMS example: 123456789 "
             "gives the check digit 3 (NPI 1234567893).",
    ),
)
