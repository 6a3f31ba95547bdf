"""Sources cited by screening: the code systems the condition table uses, and the interaction
studies behind the medication notes.

How each was checked (``checked``):
- Code systems: the individual codes in ``clinical/conditions.py`` were looked up one by one in
  public code pages and public code sets (see the ``checked`` text on each code there); the official
  release files themselves were not read here, hence ``secondary``.
- Interaction studies: the abstracts were read (PubMed / publisher / university pages), hence
  ``abstract``; the numbers quoted in ``note`` are the abstracts' own.
- 4.2 v2 (round 2): the ketamine label's drug-interaction section (7.1 theophylline/aminophylline,
  7.3 CNS depressants) was read in public reproductions of the DailyMed label; the chronic-pain
  definition (Treede 2015/2019) and the Budapest criteria (Harden 2010) in the papers' public
  copies (abstract, first pages, the criteria table); the US brand names in FDA NDC-directory
  and DailyMed listings for a sample of brands (the rest from the same kind of listing, unchecked
  one by one here), hence ``secondary``.
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
    Source(
        id="treede2019_icd11",
        authors="Treede RD, Rief W, Barke A, Aziz Q, Bennett MI, Benoliel R, Cohen M, Evers S, Finnerup NB, First MB, "
        "Giamberardino MA, Kaasa S, Korwisi B, Kosek E, Lavand'homme P, Nicholas M, Perrot S, Scholz J, Schug S, "
        "Smith BH, Svensson P, Vlaeyen JWS, Wang SJ",
        year=2019,
        title="Chronic pain as a symptom or a disease: the IASP Classification of Chronic Pain for the International "
        "Classification of Diseases (ICD-11)",
        journal="Pain 2019;160(1):19-27",
        kind="standard",
        checked="secondary",
        doi="10.1097/j.pain.0000000000001384",
        pmid="30586067",
        note="IASP/WHO ICD-11 definition: chronic pain is pain that persists or recurs for longer than 3 months "
        "(first proposed in Treede 2015, Pain 156(6):1003-1007, doi:10.1097/j.pain.0000000000000160). The contract's "
        "12 weeks is this 3 months in weeks.",
    ),
    Source(
        id="harden2010_budapest",
        authors="Harden RN, Bruehl S, Perez RSGM, Birklein F, Marinus J, Maihofner C, Lubenow T, Buvanendran A, "
        "Mackey S, Graciosa J, Mogilevski M, Ramsden C, Chont M, Vatine JJ",
        year=2010,
        title="Validation of proposed diagnostic criteria (the \"Budapest Criteria\") for Complex Regional Pain Syndrome",
        journal="Pain 2010;150(2):268-274",
        kind="study",
        checked="secondary",
        doi="10.1016/j.pain.2010.04.030",
        pmid="20493633",
        note="The IASP-endorsed clinical criteria: continuing pain disproportionate to any inciting event, symptoms in "
        "3 of 4 categories, signs in 2 of 4, no better explanation. They set no minimum duration (clinical criteria "
        "sensitivity 0.99, specificity 0.68 in the validation sample).",
    ),
    Source(
        id="ketalar_pi",
        authors="Par Pharmaceutical",
        year=2024,
        title="KETALAR (ketamine hydrochloride) injection: prescribing information (revised 10/2024)",
        journal="US FDA label (DailyMed set 14e8f864-8b8a-4e7e-8439-e510d3107063)",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/",
        note="7.1 Theophylline or aminophylline: do not co-administer, concomitant use may lower the seizure threshold. "
        "7.2 Sympathomimetics and vasopressin: monitor vital signs. 7.3 Benzodiazepines, opioid analgesics or other "
        "CNS depressants: profound sedation, respiratory depression, coma or death; opioids may prolong recovery. "
        "Warnings name chronic alcohol use (caution) and drug-induced liver injury (baseline liver tests). Read in "
        "public reproductions of the label (fda.report, drug-information pages), not the DailyMed PDF itself.",
    ),
    Source(
        id="fda2011_linezolid_methylene_blue",
        authors="US Food and Drug Administration",
        year=2011,
        title="Drug Safety Communications: serious CNS reactions possible when methylene blue or linezolid (Zyvox) is "
        "given to patients taking serotonergic psychiatric medications",
        journal="FDA Drug Safety Communication, 26 July 2011 (updated 20 October 2011)",
        kind="label",
        checked="secondary",
        url="https://www.fda.gov/drugs/drug-safety-and-availability",
        note="Linezolid and methylene blue are reversible monoamine oxidase inhibitors (MAO-A). Read in news and "
        "journal reproductions of the communication.",
    ),
    Source(
        id="us_drug_names",
        authors="US National Library of Medicine (DailyMed, RxNorm); US Food and Drug Administration (NDC Directory)",
        year=2026,
        title="US product labels: brand (proprietary) names and their active ingredients",
        journal="DailyMed structured product labels and the FDA National Drug Code directory (openFDA)",
        kind="standard",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/",
        note="The brand table in clinical/medications.py maps each US trade name to its active ingredient(s) as its "
        "label lists them. Spot-checked in NDC-directory and RxNorm listings (e.g. Horizant = gabapentin enacarbil, "
        "Belbuca = buprenorphine, Ultram/ConZip = tramadol); the others are the well-known label names, not each "
        "re-checked here.",
    ),
)
