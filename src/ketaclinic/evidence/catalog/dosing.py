"""Sources for the drug library, the pump program and the protocol library.

Each entry says how far it was checked (``checked``): every one below was read, at least as
an abstract or a page excerpt, with the ``search`` tool while this catalogue was written.
Shared sources (ASRA 2018, Schwartzman 2009, Sigtermans 2009, the seeds) live in
``catalog/core.py``.
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="pa_lowdose_ketamine2020",
        authors="Commonwealth of Pennsylvania (Prescribing Guidelines for Pennsylvania)",
        year=2020,
        title="Guidelines for safe administration of low-dose ketamine (revised October 7, 2020)",
        journal="Prescribing Guidelines for Pennsylvania",
        kind="guideline",
        checked="source_text",
        note="Low doses 'would generally be infusions of no more than 1 mg/kg/hour or bolus doses of no more "
        "than 0.5 mg/kg'; not for anesthetic or procedural-sedation doses. Read in a copy of the guideline text.",
    ),
    Source(
        id="ismp_smart_pumps2019",
        authors="Institute for Safe Medication Practices (ISMP)",
        year=2019,
        title="Optimizing safe implementation and use of smart infusion pumps: post-summit draft safe practice "
        "statements (final guidelines 2020)",
        journal="ISMP guidelines",
        kind="standard",
        checked="source_text",
        url="https://www.ismp.org/resources/draft-guidelines-optimizing-safe-implementation-and-use-smart-infusion-pumps",
        note="Dose error-reduction systems (DERS) are expected practice, including ambulatory infusion centres, for "
        "continuous, intermittent and bolus/loading doses; aim for >= 95 % of infusions programmed inside DERS. "
        "Read in the 2019 draft statements; the 2020 final text was seen only as a table of contents.",
    ),
    Source(
        id="kannan2002_oral",
        authors="Kannan TR, Saxena A, Bhatnagar S, Barry A",
        year=2002,
        title="Oral ketamine as an adjuvant to oral morphine for neuropathic pain in cancer patients",
        journal="J Pain Symptom Manage 2002;23(1):60-65",
        kind="study",
        checked="abstract",
        doi="10.1016/S0885-3924(01)00373-6",
        note="9 cancer patients with neuropathic pain: ketamine 0.5 mg/kg by mouth three times daily added to their "
        "regimen; 7 had a fall in pain score of more than 3; drowsiness in 8 during the first two weeks; 3 withdrew. "
        "The study behind seed 002. Authors' initials from memory; title, journal and numbers read in the abstract.",
    ),
    Source(
        id="mercadante2000_bolus",
        authors="Mercadante S, Arcuri E, Tirelli W, Casuccio A",
        year=2000,
        title="Analgesic effect of intravenous ketamine in cancer patients on morphine therapy: a randomized, "
        "controlled, double-blind, crossover, double-dose study",
        journal="J Pain Symptom Manage 2000;20(4):246-252",
        kind="trial",
        checked="abstract",
        url="https://gsajournals.org/articles/000/000/000000910-analgesic-effect-of-intravenous-ketamine-in-cancer-"
        "patients-on-morphine-therapy-a-randomized-controlled-double-blind-crossover-double-dose-s.php",
        note="Slow IV bolus of 0.25 or 0.50 mg/kg in 10 cancer patients; more drowsiness and a fall in MMSE at "
        "30 min with 0.50 mg/kg; hallucinations in 4 (reversed with diazepam 1 mg IV).",
    ),
    Source(
        id="goldberg2010_inpatient",
        authors="Goldberg ME, Torjman MC, Schwartzman RJ, Mager DE, Wainer IW",
        year=2010,
        title="Pharmacodynamic profiles of ketamine (R)- and (S)- with 5-day inpatient infusion for the treatment "
        "of complex regional pain syndrome",
        journal="Pain Physician 2010;13:379-387",
        kind="study",
        checked="abstract",
        doi="10.36076/ppj.2010/13/379",
        note="16 CRPS patients; racemic ketamine titrated from 10 to 40 mg/h and maintained for 5 days; no "
        "significant tachycardia, desaturation or hallucinations; relief mostly from day 3. Page range from memory.",
    ),
    Source(
        id="kiefer2008_anesthetic",
        authors="Kiefer RT, Rohr P, Ploppa A, Dieterich HJ, Grothusen J, Koffler S, Altemeyer KH, Unertl K, "
        "Schwartzman RJ",
        year=2008,
        title="Efficacy of ketamine in anesthetic dosage for the treatment of refractory complex regional pain "
        "syndrome: an open-label phase II study",
        journal="Pain Med 2008",
        kind="study",
        checked="secondary",
        url="http://www.rsdfoundation.org/en/Ketamine_J_Pain_Medicine.html",
        note="Anesthetic-dose ('ketamine coma') infusions in 20 refractory CRPS patients in intensive care. Title and "
        "authors read on a foundation's reproduction; volume, pages and doses not read. Cited only to say why "
        "anesthetic-dose regimens are excluded from an outpatient library.",
    ),
    Source(
        id="gwent_palliative_ketamine2010",
        authors="All Gwent Palliative Medicine Consultants Group",
        year=2010,
        title="Specialist guidelines for using ketamine (palliative care)",
        journal="Aneurin Bevan / Gwent palliative medicine guideline, July 2010 (reviewed October 2013)",
        kind="guideline",
        checked="source_text",
        note="Ketamine by mouth, buccally or subcutaneously in palliative care; injection vials 10, 50 and 100 mg/mL; "
        "'ketamine oral solution (usually 50 mg/5 mL)' = 10 mg/mL, the default concentration of the oral protocol.",
    ),
    Source(
        id="zarate2006_depression",
        authors="Zarate CA Jr, Singh JB, Carlson PJ, Brutsche NE, Ameli R, Luckenbaugh DA, Charney DS, Manji HK",
        year=2006,
        title="A randomized trial of an N-methyl-D-aspartate antagonist in treatment-resistant major depression",
        journal="Arch Gen Psychiatry 2006;63(8):856-864",
        kind="trial",
        checked="secondary",
        doi="10.1001/archpsyc.63.8.856",
        note="Ketamine 0.5 mg/kg IV over 40 min in treatment-resistant depression: the origin of the 40-minute regimen "
        "(trial registrations and later depression trials read in secondary copies repeat the dose and time). Cited "
        "to say the 40-minute session is a depression regimen, not an analgesic one.",
    ),
    Source(
        id="devine1974_ibw",
        authors="Devine BJ",
        year=1974,
        title="Gentamicin therapy (case study; the ideal body weight equation)",
        journal="Drug Intell Clin Pharm 1974;8:650-655",
        kind="study",
        checked="secondary",
        url="https://doi.org/10.1345/aph.19381",
        note="Ideal body weight: men 50 kg, women 45.5 kg, + 2.3 kg per inch over 5 feet (0.91 kg per cm above "
        "152.4 cm), as reprinted in Pai & Paloucek 2000 (the link; the 1974 case study has no DOI). KetaClinic uses it for the dosing weight of design 4.3 v2.",
    ),
    Source(
        id="pai2000_ibw",
        authors="Pai MP, Paloucek FP",
        year=2000,
        title="The origin of the 'ideal' body weight equations",
        journal="Ann Pharmacother 2000;34(9):1066-1069",
        kind="review",
        checked="secondary",
        doi="10.1345/aph.19381",
        note="Traces the Devine equation and its use for drug dosing; the adjusted body weight "
        "IBW + 0.4 x (actual - IBW) used for obese patients is a dosing convention (aminoglycosides), not a "
        "ketamine-specific finding. KetaClinic applies it at BMI >= 35 as clinic policy (design 4.3 v2).",
    ),
)
