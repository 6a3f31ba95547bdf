"""Sources for the validated questionnaires (issue 15): each shipped instrument, its licence, its
minimal clinically important difference, and the instruments checked and NOT shipped with why.

How each was checked (``checked``), 7 Dec 2026 with the ``search`` tool:
- PHQ-9 / GAD-7: item wording and response options as printed on the developers' forms (Pfizer's
  PHQ screeners, reproduced in public pages and implementation guides that print item, option and LOINC
  answer code together); the licence from Pfizer's 2010 announcement (news-medical.net, worldpharmanews.com:
  PHQ and GAD-7 downloadable "without copyright restriction and at no charge"); severity bands from the
  developers' papers as widely reproduced (Kroenke 2001 abstract; Spitzer 2006). Hence ``secondary``.
- GAD-7 MCID: Toussaint 2020 (J Affect Disord 265:395-401), abstract page read.
- PGIC: the 7-point patient global impression of change of Guy's ECDEU manual (a US government
  publication, public domain) as used by Farrar 2001 for chronic pain; ``abstract``.
- Instruments NOT shipped (a clinic with a licence adds them as custom instruments):
  PROMIS-29 v2.1 (healthmeasures.net "Obtain & Administer Measures": free for one's own clinical
  practice, but "Integration into proprietary technology requires written permission" and electronic
  administration needs HealthMeasures' screenshot review (HEAP)); Pain Catastrophizing Scale
  (sullivan-painresearch.mcgill.ca: "now licensed and distributed by Mapi Research Trust");
  DN4 (eprovide.mapi-trust.org: "DN4 (c) 2005 Bouhassira D. All rights reserved", fees may apply to
  healthcare organisations and IT companies); painDETECT (a Pfizer Pharma GmbH trade mark developed with
  the German Research Network on Neuropathic Pain; no free-use statement found, distributed under licence);
  CADSS (Bremner's copyrighted scale; sessions keep the CADSS-6 item numbers without the wording,
  see clinical/scales.py); Brief Pain Inventory (licensed by MD Anderson, named by the issue).
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="kroenke2001_phq9",
        authors="Kroenke K, Spitzer RL, Williams JBW",
        year=2001,
        title="The PHQ-9: validity of a brief depression severity measure",
        journal="J Gen Intern Med 2001;16(9):606-613",
        kind="study",
        checked="secondary",
        doi="10.1046/j.1525-1497.2001.016009606.x",
        note="Nine DSM-IV criteria items scored 0 (not at all) to 3 (nearly every day), total 0-27; scores 5, 10, 15 "
        "and 20 mark mild, moderate, moderately severe and severe depression. Item wording from the PHQ-9 form.",
    ),
    Source(
        id="spitzer2006_gad7",
        authors="Spitzer RL, Kroenke K, Williams JBW, Löwe B",
        year=2006,
        title="A brief measure for assessing generalized anxiety disorder: the GAD-7",
        journal="Arch Intern Med 2006;166(10):1092-1097",
        kind="study",
        checked="secondary",
        doi="10.1001/archinte.166.10.1092",
        note="Seven items scored 0-3, total 0-21; 5, 10 and 15 are the cut points for mild, moderate and severe anxiety.",
    ),
    Source(
        id="pfizer_phq_licence",
        authors="Pfizer Inc.",
        year=2010,
        title="Pfizer announces unrestricted access to patient assessment aids for mental disorders (PHQ and GAD-7)",
        journal="Press release, 23 Jul 2010 (reproduced by news-medical.net and worldpharmanews.com)",
        kind="other",
        checked="secondary",
        url="https://www.phqscreeners.com/",
        note="PHQ (including PHQ-9) and GAD-7 may be downloaded and used 'without copyright restriction and at no "
        "charge'. The forms carry: developed by Drs Spitzer, Williams, Kroenke and colleagues with an educational "
        "grant from Pfizer Inc.; no permission required to reproduce, translate, display or distribute.",
    ),
    Source(
        id="phq_missing_items",
        authors="Arrieta J, Aguerrebere M, Raviola G, et al.; rule as applied in Kroenke K et al. 2010",
        year=2017,
        title="Validity and utility of the Patient Health Questionnaire (PHQ)-2 and PHQ-9 for screening and "
        "diagnosis of depression in rural Chiapas, Mexico",
        journal="J Clin Psychol 2017;73(9):1076-1090 (missing-item rule); Kroenke K, Spitzer RL, Williams JBW, Lowe B. "
        "Gen Hosp Psychiatry 2010;32(4):345-359",
        kind="study",
        checked="secondary",
        doi="10.1002/jclp.22390",
        note="PHQ-9: a questionnaire with up to two missing items is scored, each missing item replaced by the mean "
        "of the answered items (reproduced with these two references by the qscorer R package's scoring_phq9, read "
        "7 Dec 2026; the developers' instruction manual gives no rule). GAD-7: at most one of seven missing, by the "
        "same proration (the same share of the scale), is the clinic's policy: no published GAD-7 rule was found. "
        "Rounded half up. With more missing the score is not computed and the patient is asked again.",
    ),
    Source(
        id="lowe2004_phq9_change",
        authors="Löwe B, Unützer J, Callahan CM, Perkins AJ, Kroenke K",
        year=2004,
        title="Monitoring depression treatment outcomes with the Patient Health Questionnaire-9",
        journal="Med Care 2004;42(12):1194-1201",
        kind="study",
        checked="unverified",
        doi="10.1097/00005650-200412000-00006",
        note="A change of 5 points is the clinically significant individual change used by KetaClinic as the PHQ-9 "
        "MCID (as reported in the PHQ literature; the paper itself was not read here).",
    ),
    Source(
        id="toussaint2020_gad7_mcid",
        authors="Toussaint A, Hüsing P, Gumz A, Wingenfeld K, Härter M, Schramm E, Löwe B",
        year=2020,
        title="Sensitivity to change and minimal clinically important difference of the 7-item Generalized Anxiety "
        "Disorder Questionnaire (GAD-7)",
        journal="J Affect Disord 2020;265:395-401",
        kind="study",
        checked="abstract",
        doi="10.1016/j.jad.2020.01.032",
        note="Anchor-based MCID of the GAD-7 in a multisite trial of chronic depression: 4 points.",
    ),
    Source(
        id="guy1976_cgi",
        authors="Guy W",
        year=1976,
        title="ECDEU Assessment Manual for Psychopharmacology (Clinical Global Impressions, 028-CGI)",
        journal="US Department of Health, Education, and Welfare publication (ADM) 76-338, pp 218-222",
        kind="textbook",
        checked="secondary",
        note="The 7-point global improvement scale (1 very much improved ... 4 no change ... 7 very much worse) from "
        "which the patient's global impression of change is taken; a US government publication (public domain).",
    ),
    Source(
        id="farrar2001_pgic",
        authors="Farrar JT, Young JP Jr, LaMoreaux L, Werth JL, Poole RM",
        year=2001,
        title="Clinical importance of changes in chronic pain intensity measured on an 11-point numerical pain "
        "rating scale",
        journal="Pain 2001;94(2):149-158",
        kind="study",
        checked="abstract",
        doi="10.1016/S0304-3959(01)00349-9",
        note="PGIC 'Since the start of the study, my overall status is:' very much improved ... very much worse; "
        "'much improved' or better corresponded to about a 30% (2-point) reduction of pain intensity. KetaClinic "
        "counts 'much' or 'very much improved' as a PGIC responder (IMMPACT's moderately important or substantial).",
    ),
    Source(
        id="dworkin2008_immpact",
        authors="Dworkin RH, Turk DC, Wyrwich KW, et al.",
        year=2008,
        title="Interpreting the clinical importance of treatment outcomes in chronic pain clinical trials: IMMPACT "
        "recommendations",
        journal="J Pain 2008;9(2):105-121",
        kind="guideline",
        checked="abstract",
        doi="10.1016/j.jpain.2007.09.005",
        note="PGIC 'much improved' is a moderately important and 'very much improved' a substantial improvement.",
    ),
    Source(
        id="promis_terms",
        authors="HealthMeasures (Northwestern University) / PROMIS Health Organization",
        year=None,
        title="PROMIS: Obtain & Administer Measures; HealthMeasures Terms of Use",
        journal="healthmeasures.net",
        kind="other",
        checked="source_text",
        url="https://www.healthmeasures.net/explore-measurement-systems/promis/obtain-administer-measures",
        note="Free for one's own clinical practice; commercial users must seek permission; integration into "
        "proprietary technology requires written permission; electronic administration requires HealthMeasures "
        "Electronic Administration Permission (screenshot review). PROMIS-29 v2.1 is therefore NOT shipped: a clinic "
        "with the permission adds it as a custom instrument.",
    ),
    Source(
        id="pcs_licence",
        authors="Sullivan MJL; Mapi Research Trust",
        year=1995,
        title="The Pain Catastrophizing Scale (Sullivan, Bishop, Pivik 1995, Psychol Assess 7:524-532): licensing",
        journal="sullivan-painresearch.mcgill.ca/pcs.php",
        kind="other",
        checked="source_text",
        url="https://sullivan-painresearch.mcgill.ca/pcs.php",
        note="'The PCS is now licensed and distributed by Mapi Research Trust': NOT shipped (custom instrument).",
    ),
    Source(
        id="dn4_licence",
        authors="Bouhassira D; Mapi Research Trust",
        year=2005,
        title="Neuropathic Pain 4 Questions (DN4): conditions of use",
        journal="eprovide.mapi-trust.org/instruments/neuropathic-pain-4-questions",
        kind="other",
        checked="source_text",
        url="https://eprovide.mapi-trust.org/instruments/neuropathic-pain-4-questions",
        note="'DN4 (c) 2005 Bouhassira D. All rights reserved'; fees may apply to healthcare organisations, commercial "
        "users and IT companies: NOT shipped (custom instrument).",
    ),
    Source(
        id="paindetect_licence",
        authors="Freynhagen R, Baron R, Gockel U, Tölle TR; Pfizer Pharma GmbH",
        year=2006,
        title="painDETECT: a new screening questionnaire to identify neuropathic components in patients with back "
        "pain (Curr Med Res Opin 22:1911-1920); the questionnaire is (c) Pfizer Pharma GmbH",
        journal="Curr Med Res Opin 2006;22(10):1911-1920",
        kind="other",
        checked="unverified",
        doi="10.1185/030079906X132488",
        note="A trade-marked, copyrighted questionnaire; no statement allowing free use in software was found: NOT "
        "shipped (custom instrument).",
    ),
    Source(
        id="cadss_licence",
        authors="Bremner JD, Krystal JH, Putnam FW, et al.",
        year=1998,
        title="Measurement of dissociative states with the Clinician-Administered Dissociative States Scale (CADSS)",
        journal="J Trauma Stress 1998;11(1):125-136",
        kind="other",
        checked="abstract",
        doi="10.1023/A:1024465317902",
        note="The author's copyrighted scale (instructions dated 2014 from Emory University); no free-use statement "
        "was found. Sessions record the CADSS-6 item scores by number (clinical/scales.py) from the clinic's own form; "
        "the wording is NOT shipped as a questionnaire.",
    ),
)
