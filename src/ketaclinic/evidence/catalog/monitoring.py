"""Sources for the monitored session, discharge, follow-up and outcomes.

Each entry says in ``checked`` how far its numbers were read: ``abstract`` means the published
abstract (PubMed or the journal page) was read during this work, ``secondary`` a faithful
reproduction (a table reprinted elsewhere, a product monograph page), ``source_text`` the
source itself. Numbers that no source sets are clinic policy (see ``catalog/policy.py``).
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="chernik1990_moaas",
        authors="Chernik DA, Gillings D, Laine H, Hendler J, Silver JM, Davidson AB, Schwam EM, Siegel JL",
        year=1990,
        title="Validity and reliability of the Observer's Assessment of Alertness/Sedation Scale: study with intravenous midazolam",
        journal="J Clin Psychopharmacol 1990;10(4):244-251",
        kind="study",
        checked="secondary",
        url="https://pubmed.ncbi.nlm.nih.gov/?term=Chernik+DA%5Bau%5D+1990+Alertness+Sedation+Scale",
        note="The (modified) OAA/S responsiveness scale: 5 responds readily to name in a normal tone; 4 lethargic "
        "response; 3 responds only after name called loudly or repeatedly; 2 only after mild prodding or shaking; "
        "1 no response to mild prodding or shaking; 0 no response to pain (scale reprinted in a Thorax table). "
        "The scale is also the sedation measure of the esketamine label. The alert thresholds on it are clinic policy.",
    ),
    Source(
        id="delsant2020",
        authors="Del Sant LC, Sarin LM, Magalhães EJM, Lucchese AC, Tuena MA, Nakahira C, Fava VAR, Delfino R, Surjan J, "
        "Steiglich MS, Barbosa M, Abdo G, Cohrs FM, Liberatori A, Del Porto JA, Lacerda ALT, Mari JJ",
        year=2020,
        title="Effects of subcutaneous esketamine on blood pressure and heart rate in treatment-resistant depression",
        journal="J Psychopharmacol 2020",
        kind="study",
        checked="abstract",
        doi="10.1177/0269881120922955",
        note="70 patients, 394 weekly s.c. esketamine doses of 0.5-1 mg/kg; 14/70 had treatment-emergent transient "
        "hypertension, defined as SBP > 180 mmHg and/or DBP > 110 mmHg; the authors recommend BP monitoring for "
        "90 min after dosing. Source of the 180/110 hypertension threshold (depression, esketamine: an analogy).",
    ),
    Source(
        id="spravato_bp_medinfo",
        authors="Janssen Medical Information",
        year=None,
        title="SPRAVATO: concomitant use with antihypertensive medications (US medical information letter)",
        journal="J&J Medical Connect",
        kind="label",
        checked="source_text",
        url="https://www.jnjmedicalconnect.com/products/spravato/medical-content/concomitant-use-of-spravato-with-antihypertensive-medications",
        note="Assess BP before each dose; when BP is elevated before dosing ('as a general guide: >140/90 mmHg') the "
        "decision to delay weighs benefit and risk. Transient rises usually return to pre-dose values within 2 h. "
        "The clinic's pre-dose hold at 160/100 is its own choice (clinic policy); between 140/90 and 160/100 the "
        "label's advice to weigh benefit and risk is shown to the nurse as a note.",
    ),
    Source(
        id="spravato_label_bp",
        authors="Janssen Pharmaceuticals",
        year=2019,
        title="SPRAVATO (esketamine) nasal spray prescribing information: Warnings and Precautions, Increase in Blood Pressure",
        journal="US FDA label (reprinted in US Medicine, 2021)",
        kind="label",
        checked="secondary",
        url="https://www.spravatohcp.com",
        note="BP increases peak about 40 min after dosing and last about 4 h; about 8-19 % of treated patients "
        "(1-4 % on placebo) had a rise of >= 40 mmHg systolic and/or 25 mmHg diastolic in the first 1.5 h at least "
        "once in the first 4 weeks. Used by analogy for the rise-from-baseline warning.",
    ),
    Source(
        id="chan2022_uropathy",
        authors="Chan EOT, Chan VWS, Tang TST, Cheung V, Wong MCS, Yee CH, Ng CF, Teoh JYC",
        year=2022,
        title="Systematic review and meta-analysis of ketamine-associated uropathy",
        journal="Hong Kong Med J 2022;28(6):466-474",
        kind="review",
        checked="abstract",
        url="https://www.hkmj.org/abstracts/v28n6/466.htm",
        note="45 studies, 4921 patients (mostly recreational ketamine use): frequency 77.1 %, urgency 69.9 %, "
        "suprapubic pain 60.4 % (pooled prevalence). Basis for asking about urinary symptoms at every visit.",
    ),
    Source(
        id="cotter2021_faers",
        authors="Cotter S, Wong J, Gada N, Gill R, Jones SC, Chai G, Foster D, Avigan M, Mundkur M",
        year=2021,
        title="Repeated or continuous medically supervised ketamine administration associated with hepatobiliary "
        "adverse events: a retrospective case series",
        journal="Drug Saf 2021;44(12):1365-1374",
        kind="study",
        checked="abstract",
        doi="10.1007/s40264-021-01120-9",
        pmid="34699023",
        note="FDA FAERS and literature cases to July 2018 of repeated medical (not recreational) ketamine with a "
        "hepatobiliary adverse event. Supports liver tests before repeated courses.",
    ),
    Source(
        id="asa2023_ketamine_statement",
        authors="American Society of Anesthesiologists, Committee on Pain Medicine",
        year=2023,
        title="Statement on ketamine for the treatment of chronic pain (approved October 18, 2023)",
        journal="ASA Standards and Practice Parameters",
        kind="guideline",
        checked="source_text",
        url="https://www.asahq.org/standards-and-practice-parameters/statement-on-ketamine-for-the-treatment-of-chronic-pain",
        note="Patients receiving ketamine for chronic pain should be monitored by a pain physician or "
        "anesthesiologist and treated within a comprehensive multidisciplinary approach.",
    ),
    Source(
        id="aldrete1995",
        authors="Aldrete JA",
        year=1995,
        title="The post-anesthesia recovery score revisited",
        journal="J Clin Anesth 1995;7(1):89-91",
        kind="study",
        url="https://pubmed.ncbi.nlm.nih.gov/?term=Aldrete+JA+1995+post-anesthesia+recovery+score+revisited",
        checked="secondary",
        note="Modified Aldrete score: pulse oximetry replaces colour (StatPearls summary). Used for early recovery; "
        "the home-readiness decision uses PADSS (chung1995_padss). A '>= 9' Aldrete threshold is UNVERIFIED.",
    ),
    Source(
        id="langston2008_ondansetron",
        authors="Langston WT, Wathen JE, Roback MG, Bajaj L",
        year=2008,
        title="Effect of ondansetron on the incidence of vomiting associated with ketamine sedation in children: a "
        "double-blind, randomized, placebo-controlled trial",
        journal="Ann Emerg Med 2008;52(1):30-34",
        kind="trial",
        url="https://pubmed.ncbi.nlm.nih.gov/?term=Langston+2008+ondansetron+ketamine+Ann+Emerg+Med",
        checked="abstract",
        note="Children given IV ketamine 1 mg/kg for ED sedation: IV ondansetron 0.15 mg/kg (max 4 mg) lowered ED "
        "vomiting from 12.6 % to 4.7 %. Children and sedation doses: supports an antiemetic for ketamine-associated "
        "vomiting, not a dose for adults on low-dose infusions (that is the plan's, signed by the physician).",
    ),
    Source(
        id="rodrigues2021_cadss6",
        authors="Rodrigues NB, McIntyre RS, Lipsitz O, Lee Y, Cha DS, Shekotikhina M, Vinberg M, Gill H, "
        "Subramaniapillai M, Kratiuk K, Lin K, Ho R, Mansur RB, Rosenblat JD",
        year=2021,
        title="A simplified 6-Item clinician administered dissociative symptom scale (CADSS-6) for monitoring "
        "dissociative effects of sub-anesthetic ketamine infusions",
        journal="J Affect Disord 2021;282:160-164",
        kind="study",
        checked="abstract",
        doi="10.1016/j.jad.2020.12.119",
        note="260 TRD patients on IV ketamine (retrospective): CADSS-6 = items 1, 2, 6, 7, 15 and 22 of the 23-item "
        "CADSS; Spearman r 0.91-0.95 with the full CADSS at infusions 1-4; not yet validated (authors). No cut-off "
        "is given, so KetaClinic raises no alert from it. The 0-4 rating of each item is the CADSS's (Bremner 1998); "
        "the anchor words were not read in a stored copy (UNVERIFIED), the clinic's licensed form carries them.",
    ),
    Source(
        id="bremner1998_cadss",
        authors="Bremner JD, Krystal JH, Putnam FW, Southwick SM, Marmar C, Charney DS, Mazure CM",
        year=1998,
        title="Measurement of dissociative states with the Clinician-Administered Dissociative States Scale (CADSS)",
        journal="J Trauma Stress 1998;11(1):125-136",
        kind="study",
        checked="secondary",
        doi="10.1023/A:1024465317902",
        note="The CADSS: 19 subjective items ('at this time, in this room': 1 things moving in slow motion, 2 things "
        "seem unreal as in a dream, 6 disconnected from own body, 7 sense of own body changed, 15 spacing out ...) "
        "and observer items (item table reprinted). Source of the item numbers CADSS-6 uses.",
    ),
    Source(
        id="sessler2002_rass",
        authors="Sessler CN, Gosnell MS, Grap MJ, Brophy GM, O'Neal PV, Keane KA, Tesoro EP, Elswick RK",
        year=2002,
        title="The Richmond Agitation-Sedation Scale: validity and reliability in adult intensive care unit patients",
        journal="Am J Respir Crit Care Med 2002;166(10):1338-1344",
        kind="study",
        checked="abstract",
        doi="10.1164/rccm.2107138",
        pmid="12421743",
        note="A 10-level scale, +4 'combative' to -5 'unarousable' (0 alert and calm); inter-rater r 0.956 "
        "(kappa 0.73) among investigators, 0.964 (kappa 0.80) with bedside nurses; validated in ventilated and "
        "non-ventilated, sedated and non-sedated ICU adults. The intermediate level names are those of the "
        "published scale as commonly reprinted. The alert thresholds on it (<= -3, >= +2) are clinic policy.",
    ),
    Source(
        id="marshall_chung1999_padss",
        authors="Marshall SI, Chung F",
        year=1999,
        title="Discharge criteria and complications after ambulatory surgery",
        journal="Anesth Analg 1999;88(3):508-517",
        kind="review",
        checked="secondary",
        doi="10.1097/00000539-199903000-00008",
        note="The modified PADSS: vital signs (2 within 20 % of the pre-operative value, 1 within 20-40 %, 0 beyond "
        "40 %), ambulation (2 steady gait, no dizziness; 1 with assistance; 0 none or dizziness), nausea and "
        "vomiting, pain and surgical bleeding (each 2 minimal, 1 moderate, 0 severe); total 10, 9 or more fit for "
        "discharge (table reprinted by clinician.com from Chung). The item set of contract 4.7.",
    ),
)
