"""Sources cited by screening: the code systems the condition table uses, and the interaction
studies behind the medication notes.

How each was checked (``checked``):
- Code systems: the individual codes in ``clinical/conditions.py`` were looked up one by one in
  public code pages and public code sets (see the ``checked`` text on each code there); the official
  release files themselves were not read here, hence ``secondary``.
- Interaction studies: the abstracts were read (PubMed / publisher / university pages), hence
  ``abstract``; the numbers quoted in ``note`` are the abstracts' own.
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="icd10cm",
        authors="National Center for Health Statistics (CDC) and Centers for Medicare & Medicaid Services",
        year=2025,
        title="ICD-10-CM: International Classification of Diseases, Tenth Revision, Clinical Modification, FY2026 code set",
        journal="US HIPAA code set, effective 1 Oct 2025 - 30 Sep 2026",
        kind="standard",
        checked="secondary",
        url="https://www.cdc.gov/nchs/icd/icd-10-cm/",
        note="Codes in the condition table were checked against public code pages that reproduce the FY2026 tabular list "
        "(code, title, billable status, inclusion terms); not against the NCHS release files themselves.",
    ),
    Source(
        id="snomedct",
        authors="SNOMED International; US National Library of Medicine (US Edition)",
        year=None,
        title="SNOMED CT clinical terminology (International Edition and US Edition)",
        journal="SNOMED CT release; concepts checked in public code sets and FHIR value sets",
        kind="standard",
        checked="secondary",
        url="https://www.snomed.org/",
        note="Concept ids were checked in published clinical code sets (e.g. the Greater Manchester SDE code sets) and "
        "HL7 FHIR implementation-guide value sets that print id and term together; not in a SNOMED browser.",
    ),
    Source(
        id="anand2000_lamotrigine",
        authors="Anand A, Charney DS, Oren DA, Berman RM, Hu XS, Cappiello A, Krystal JH",
        year=2000,
        title="Attenuation of the neuropsychiatric effects of ketamine with lamotrigine: support for hyperglutamatergic "
        "effects of N-methyl-D-aspartate receptor antagonists",
        journal="Arch Gen Psychiatry 2000;57(3):270-276",
        kind="trial",
        checked="abstract",
        doi="10.1001/archpsyc.57.3.270",
        note="16 healthy subjects; lamotrigine 300 mg PO 2 h before ketamine 0.26 mg/kg bolus + 0.65 mg/kg/h reduced "
        "ketamine-induced perceptual abnormalities (CADSS) and cognitive effects but increased its mood-elevating "
        "effect. Later studies in depressed patients did not confirm the attenuation (Wilkowska 2022 review).",
    ),
    Source(
        id="hagelberg2010_clarithromycin",
        authors="Hagelberg NM, Peltoniemi MA, Saari TI, Kurkinen KJ, Laine K, Neuvonen PJ, Olkkola KT",
        year=2010,
        title="Clarithromycin, a potent inhibitor of CYP3A, greatly increases exposure to oral S-ketamine",
        journal="Eur J Pain 2010;14(6):625-629",
        kind="trial",
        checked="abstract",
        doi="10.1016/j.ejpain.2009.10.003",
        pmid="19897389",
        note="10 healthy subjects; clarithromycin raised oral S-ketamine Cmax 3.6-fold and AUC 2.6-fold; norketamine "
        "fraction fell 54 %. Oral route: the effect on an IV infusion is expected to be smaller.",
    ),
    Source(
        id="peltoniemi2011_ticlopidine",
        authors="Peltoniemi MA, Saari TI, Hagelberg NM, Reponen P, Turpeinen M, Laine K, Neuvonen PJ, Olkkola KT",
        year=2011,
        title="Exposure to oral S-ketamine is unaffected by itraconazole but greatly increased by ticlopidine",
        journal="Clin Pharmacol Ther 2011;90(2):296-302",
        kind="trial",
        checked="abstract",
        doi="10.1038/clpt.2011.140",
        note="11 healthy volunteers; the CYP2B6 inhibitor ticlopidine raised oral S-ketamine AUC 2.4-fold; the CYP3A "
        "inhibitor itraconazole did not raise it.",
    ),
    Source(
        id="peltoniemi2012_rifampicin",
        authors="Peltoniemi MA, Saari TI, Hagelberg NM, Laine K, Kurkinen KJ, Neuvonen PJ, Olkkola KT",
        year=2012,
        title="Rifampicin has a profound effect on the pharmacokinetics of oral S-ketamine and less on intravenous S-ketamine",
        journal="Basic Clin Pharmacol Toxicol 2012;111(5):325-332",
        kind="trial",
        checked="abstract",
        doi="10.1111/j.1742-7843.2012.00908.x",
        note="11 healthy volunteers; rifampicin 600 mg for 6 days lowered S-ketamine AUC by 14 % after IV and 86 % after "
        "oral dosing.",
    ),
)
