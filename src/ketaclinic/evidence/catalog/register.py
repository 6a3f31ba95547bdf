"""Sources of the controlled-substance register (issue 14): the DEA's record-keeping rules and the products.

The regulation texts were read with the ``search`` tool in public copies (GPO and DEA Diversion copies of
21 CFR 1304.22, a 2023 Federal Register rule on Form 106); what each rule requires is paraphrased here,
never quoted as law. Whether a clinic is a "dispenser" that must keep these records is for its DEA
registrant to decide; KetaClinic keeps them in any case.
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="cfr_1304_22",
        authors="US Drug Enforcement Administration",
        year=2024,
        title="21 CFR 1304.22 Records for manufacturers, distributors, dispensers, researchers, importers and exporters; "
              "(c) records for dispensers and researchers",
        journal="Code of Federal Regulations, Title 21, Part 1304",
        kind="standard",
        checked="source_text",
        url="https://www.ecfr.gov/current/title-21/section-1304.22",
        note="Dispensers keep, per substance and finished form: containers received with the date and the supplier's "
             "name, address and registration number; the number of units or volume dispensed with the date and who "
             "dispensed; and what was disposed of in any other manner with the date, manner and quantity (read in the "
             "DEA Diversion and GPO copies, and a state rule that repeats it). Records are kept two years (1304.04).",
    ),
    Source(
        id="cfr_1304_11",
        authors="US Drug Enforcement Administration",
        year=2024,
        title="21 CFR 1304.11 Inventory requirements (initial and biennial inventory)",
        journal="Code of Federal Regulations, Title 21, Part 1304",
        kind="standard",
        checked="secondary",
        url="https://www.ecfr.gov/current/title-21/section-1304.11",
        note="A complete inventory of every controlled substance on hand at least every two years, on any date within "
             "two years of the previous one, stating whether it was taken at the opening or the close of business; "
             "for Schedule III-V an opened container may be estimated unless it holds more than 1,000 units (read in "
             "secondary summaries and the older 21 CFR 304.17 text, not the current eCFR page).",
    ),
    Source(
        id="cfr_1301_76",
        authors="US Drug Enforcement Administration",
        year=2023,
        title="21 CFR 1301.76(b) Theft or significant loss (practitioners); DEA Form 106; final rule 88 FR 40707 "
              "(Reporting theft or significant loss of controlled substances)",
        journal="Code of Federal Regulations, Title 21, Part 1301; Federal Register 2023-06-22",
        kind="standard",
        checked="secondary",
        url="https://www.federalregister.gov/documents/2023/06/22/2023-13085/reporting-theft-or-significant-loss-of-controlled-substances",
        note="The registrant notifies the DEA Field Division Office in writing within one business day of discovering "
             "a theft or significant loss, and files DEA Form 106 electronically within 45 days (the 2023 rule; paper "
             "forms are no longer accepted). 1301.74(c) says the same for non-practitioner registrants.",
    ),
    Source(
        id="dea_practitioner_manual",
        authors="US Drug Enforcement Administration, Diversion Control Division",
        year=2023,
        title="Practitioner's Manual: an informational outline of the Controlled Substances Act",
        journal="DEA Diversion Control Division",
        kind="guideline",
        checked="secondary",
        url="https://www.deadiversion.usdoj.gov",
        note="Record keeping, inventories, security and theft/loss reporting for practitioners, summarised; the "
             "registrant types a DEA number starts with. The check digit rule (d1+d3+d5 + 2×(d2+d4+d6), units digit) "
             "was confirmed in several independent pharmacy references; it only catches typing slips.",
    ),
    Source(
        id="midazolam_athenex_ndc",
        authors="Athenex Pharmaceutical Division",
        year=2020,
        title="Midazolam Injection, USP: 2 mg per 2 mL (NDC 70860-600-02) and 50 mg per 10 mL (NDC 70860-601-10)",
        journal="Product sheet; DailyMed label listing NDC 70860-601-10 (DEA schedule CIV)",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/",
        note="Where the two midazolam NDCs seeded in the register come from (product sheet and DailyMed listing, read "
             "with the search tool). The ketamine products carry no NDC: the 50 mg/mL and 10 mg/mL package codes were "
             "not confirmed, so a clinic enters the NDC of the vials it buys.",
    ),
)
