"""Sources for the adjunct and rescue drug library (issue 14, the medication record).

The US prescribing information of each drug, as far as it was read during this work: ``secondary``
means the label's dosage section as reprinted by a drug-information page (the label itself was not
opened), which is how each number below was checked. Everything the labels do not set (per-session
caps for an outpatient ketamine chair, the usual rescue doses the reference lists as suggestions)
is clinic policy (``catalog/policy.py``).
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="ondansetron_pi",
        authors="US Food and Drug Administration; GlaxoSmithKline / generic labellers",
        year=2025,
        title="Ondansetron injection (Zofran): US prescribing information, dosage and administration; warnings 5.2",
        journal="DailyMed structured product label",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=ondansetron+injection",
        note="Prevention of postoperative nausea and vomiting: a single 4 mg IV dose (trials of 4 mg and 8 mg). QT "
        "prolongation is dose-dependent; since the 2012 label change no single IV dose should exceed 16 mg "
        "(read in label reprints and the FDA safety communication as reproduced by drug-information pages).",
    ),
    Source(
        id="midazolam_pi",
        authors="US Food and Drug Administration; Hospira / generic labellers",
        year=2017,
        title="Midazolam injection, USP: US prescribing information (boxed warning; sedation/anxiolysis dosing)",
        journal="DailyMed structured product label",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=midazolam+injection",
        note="IV sedation in a healthy adult under 60: the initial dose may be as little as 1 mg and should not exceed "
        "2.5 mg; titrate slowly, each dose over at least 2 minutes, then wait 2 or more minutes to judge the effect; a "
        "total dose above 5 mg is usually not necessary. Only where respiratory and cardiac function are monitored "
        "continuously. Schedule IV controlled substance.",
    ),
    Source(
        id="labetalol_pi",
        authors="US Food and Drug Administration; generic labellers (formerly Normodyne, Trandate)",
        year=2024,
        title="Labetalol hydrochloride injection: US prescribing information, dosage and administration",
        journal="DailyMed structured product label",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=labetalol+injection",
        note="Severe hypertension, repeated IV injection: 20 mg over 2 minutes; further 40 or 80 mg at 10-minute "
        "intervals until the supine blood pressure is reached or 300 mg in total has been given. Keep the patient "
        "supine; measure the blood pressure 5 and 10 minutes after each injection.",
    ),
    Source(
        id="clonidine_pi",
        authors="US Food and Drug Administration; Boehringer Ingelheim (Catapres)",
        year=2014,
        title="Catapres (clonidine hydrochloride) tablets: US prescribing information, dosage and administration",
        journal="DailyMed structured product label",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=catapres",
        note="Hypertension: initial dose 0.1 mg twice daily; 2.4 mg/day is the maximum effective daily dose. The label "
        "sets no single-dose limit for a blood-pressure rise in a chair; the per-dose and per-session limits here are "
        "clinic policy (hourly 0.1 mg doses in urgency regimens were read only in secondary summaries).",
    ),
    Source(
        id="glycopyrrolate_pi",
        authors="US Food and Drug Administration; generic labellers (Robinul)",
        year=2023,
        title="Glycopyrrolate injection, USP: US prescribing information, dosage and administration",
        journal="DailyMed structured product label",
        kind="label",
        checked="secondary",
        url="https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=glycopyrrolate+injection",
        note="Reduces salivary secretions. Intraoperative use: single IV doses of 0.1 mg, repeated as needed at "
        "intervals of 2 to 3 minutes; peptic ulcer: 0.1 mg, or 0.2 mg for a more profound effect.",
    ),
    Source(
        id="rxnorm",
        authors="US National Library of Medicine",
        year=2026,
        title="RxNorm: normalized names for clinical drugs (ingredient concepts, term type IN)",
        journal="NLM RxNorm release; RxNav",
        kind="standard",
        checked="secondary",
        url="https://www.nlm.nih.gov/research/umls/rxnorm/",
        note="Ingredient RxCUIs written by the FHIR export (interop/fhir_adjunct_codes.py says where each was confirmed).",
    ),
)
