"""Sources for the pharmacokinetic engine and model registry (``ketaclinic.pharmacology``).

Every number the PK/PD models encode names one of these ids. ``checked`` is honest:

* ``source_text`` - the number was read in the paper's own text or table;
* ``abstract`` - read only in the abstract (PubMed or a mirror of it);
* ``code`` - read in another tool's source code (opentiva, nlmixr2lib, PyTCI), which
  transcribes the paper; the paper itself was not read;
* ``secondary`` - read in a review, encyclopaedia or other reproduction;
* ``unverified`` - not found; the number stands only until someone checks it.

The research behind each entry (how it was checked, what is still open) is in
``docs/research/pk-parameters.md``. Unit conversions: 1 ug/mL = 1 mg/L = 1000 ng/mL;
ketamine free base C13H16ClNO, molar mass 237.73 g/mol (our arithmetic from standard
atomic weights: 237.727; 237.725 on the encyclopaedia page, 237.73 in public PK code).
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    # ----------------------------------------------------------------- IV models (opentiva set)
    Source(
        id="domino1984",
        authors="Domino EF, et al. (UNVERIFIED: paper not found)",
        year=None,
        title="UNVERIFIED: three-compartment ketamine kinetics (source of the k-set used by opentiva 'Domino' and "
        "fus_anes TCI_Ketamine)",
        journal="UNVERIFIED (suspected Clin Pharmacol Ther 1984;36:645; opentiva cites PMID 7198883, unresolved)",
        kind="pk_model",
        checked="code",
        url="https://github.com/opentiva/opentiva/blob/a18149915d88878cde77540111e212069ba15934/opentiva/ketamine.py",
        note="k-set read in opentiva ketamine.Domino and in fus_anes TCI_Ketamine (same values): V1 = 0.063 L/kg; "
        "k10 0.4381, k12 0.5921, k13 0.5900, k21 0.2470, k31 0.0146 /min. Derived (our arithmetic): V2 0.151 L/kg, "
        "V3 2.546 L/kg, Vss 2.76 L/kg, CL 27.6 mL/min/kg. Population, n, ages, weights, sampling site UNKNOWN: no "
        "valid covariate range can be stated. opentiva's ke0 0.652/min is its own ('from tpeak 1 min'); fus_anes "
        "uses ke0 1.0 marked as unresolved in its code. Neither is published PD.",
    ),
    Source(
        id="clements1981",
        authors="Clements JA, Nimmo WS (UNVERIFIED)",
        year=1981,
        title="UNVERIFIED title (memory: 'Pharmacokinetics and analgesic effect of ketamine in man')",
        journal="Br J Anaesth 1981;53(1):27",
        kind="pk_model",
        checked="code",
        doi="10.1093/bja/53.1.27",
        pmid="7459184",
        note="DOI/PMID as cited by opentiva (Clements250 class). opentiva: V1 = 1.7522 L/kg; k10 0.0109, k12 0.0186, "
        "k21 0.0137 /min (2-cmt, 250 ug/kg bolus data). Derived: V2 2.38 L/kg, CL 19.1 mL/min/kg. Population (adult "
        "volunteers?) not verified: abstract not found. opentiva ke0 5.2/min is derived ('from tpeak 1 min').",
    ),
    Source(
        id="hijazi2003",
        authors="Hijazi Y, Bodonian C, Bolon M, Salord F, Boulieu R (UNVERIFIED, memory)",
        year=2003,
        title="Pharmacokinetics and haemodynamics of ketamine in intensive care patients with brain or spinal cord "
        "injury (title from memory; abstract text read)",
        journal="Br J Anaesth 2003;90(2):155-160",
        kind="pk_model",
        checked="abstract",
        doi="10.1093/bja/aeg028",
        pmid="12538370",
        note="Abstract (Ovid, BJA Feb 2003): 12 intensive-care patients with brain or spinal cord injury; total CL "
        "36.0 (SD 13.3) mL/min/kg, V-beta 16.0 (8.6) L/kg, t1/2 4.9 (1.6) h. Ages/weights not in the abstract; the "
        "abstract compares them with 'healthy volunteers and surgical patients' (adult ICU cohort implied). "
        "opentiva: V1 = 1.08 L/kg; k10 0.0333, k12 0.0088, k21 0.0030 /min (CL = 36.0 mL/min/kg matches). "
        "opentiva's age_upper = 18 looks wrong (adult ICU). ke0 4.773/min is opentiva-derived.",
    ),
    Source(
        id="herd2007",
        authors="Herd D, Anderson BJ",
        year=2007,
        title="Ketamine disposition in children presenting for procedural sedation and analgesia in a children's "
        "emergency department",
        journal="Paediatr Anaesth 2007;17(7):622-629",
        kind="pk_model",
        checked="abstract",
        doi="10.1111/j.1460-9592.2006.02145.x",
        pmid="17564643",
        note="54 children (188 obs), 1-1.5 mg/kg IV; age 8.3 SD 3.5 y, weight 32.5 SD 15.6 kg. 2-cmt, allometric to "
        "70 kg: V1 38.7 L/70kg (BSV 64%), V2 102 L/70kg (51.7%), CL 90 L/h/70kg (38.1%), Q 215 L/h/70kg (19%); "
        "exponents 1 (V) and 0.75 (CL, Q) per opentiva. Analgesia >= 0.1 mg/L and 'awakening' 0.75 mg/L quoted as "
        "adult levels. opentiva limits: age 1-14 y, weight 10.8-74.8 kg.",
    ),
    Source(
        id="herd2008",
        authors="Herd DW, Anderson BJ, Keene NA, Holford NHG",
        year=2008,
        title="Investigating the pharmacodynamics of ketamine in children",
        journal="Paediatr Anaesth 2008;18(1):36-42",
        kind="study",
        pmid="18095964",
        checked="abstract",
        note="43 children in PD analysis (8.15 SD 3.5 y, 34.9 SD 15.8 kg). Effect-compartment equilibration "
        "half-time 11 s (95% CI 0.07-20 s) -> ke0 = ln2/(11/60) = 3.78 /min (our arithmetic). Sedation Emax: E0 5, "
        "fractional Emax 0.939 (CV 24%), EC50 0.56 mg/L (CV 136%), Hill 3.71; EC50 arousal 0.52 mg/L. Background: "
        "adult recovery 0.74 (SD 0.24) mg/L, adult EC50 anaesthesia 2 (SD 0.5) mg/L.",
    ),
    Source(
        id="hornik2018",
        authors="Hornik CP, et al.; Pediatric Trials Network Steering Committee (initials/co-authors UNVERIFIED)",
        year=2018,
        title="Population pharmacokinetics of intramuscular and intravenous ketamine in children",
        journal="J Clin Pharmacol 2018",
        kind="pk_model",
        checked="abstract",
        doi="10.1002/jcph.1116",
        pmid="29677389",
        note="Abstract (Northwestern Scholars): 113 children (50 IM, 63 IV), median 3.3 y (0.02-17.6), median 14 kg "
        "(2.4-176.1), 275 samples; 2-cmt, first-order IM absorption; allometric exponents 1 (V) and 0.75 (CL, Q); "
        "IM bioavailability 41%. Targets >100 ng/mL (analgesia), 750 ng/mL (awakening). Structural values seen only "
        "in opentiva: V1 32.8, V2 152 L/70kg; CL 38.9, Q 54.9 L/h/70kg. IM ka and IIV NOT FOUND.",
    ),
    Source(
        id="kamp2020",
        authors="Kamp J, Olofsen E, Henthorn TK, van Velzen M, Niesters M, Dahan A; Ketamine Pharmacokinetic Study Group",
        year=2020,
        title="Ketamine pharmacokinetics: a systematic review of the literature, meta-analysis, and population "
        "analysis",
        journal="Anesthesiology 2020;133(6):1192-1213",
        kind="review",
        checked="abstract",
        doi="10.1097/ALN.0000000000003577",
        url="https://pubs.asahq.org/anesthesiology/article/133/6/1192/110742/Ketamine-PharmacokineticsA-Systematic-Review-of",
        note="Abstract read again (ASA journal page and OUCI record, 2020): 18 studies (11 healthy adults, 3 adult "
        "patients, 5 paediatric). Weighted mean Vd 252 L/70kg (95% CI 200-304); weighted mean CL 79 L/h at 70 kg "
        "(95% CI 69-90) = 18.8 mL/min/kg. No covariate effect. Raw-data model (14 data sets): arterial central + 2 "
        "peripheral + 2 venous delay compartments; its parameter table was NOT read. Used as the cross-check on each "
        "model's clearance in --list-models (Hornik 2018, 38.9 L/h/70kg, is 0.49x this value).",
    ),
    Source(
        id="fanta2015",
        authors="Fanta S, Kinnunen M, Backman JT, Kalso E",
        year=2015,
        title="Population pharmacokinetics of S-ketamine and norketamine in healthy volunteers after intravenous "
        "and oral dosing",
        journal="Eur J Clin Pharmacol 2015;71(4):441-447",
        kind="pk_model",
        checked="abstract",
        doi="10.1007/s00228-015-1826-y",
        pmid="25724645",
        note="11 healthy men (22.3 SD 2.4 y, 77 SD 7.5 kg, venous; demographics from otto2021 Table 2), S-ketamine "
        "0.125 mg/kg IV + 0.25 mg/kg PO. 3-cmt S-ketamine + 3-cmt norketamine with presystemic norketamine "
        "formation. Oral F 8% (IIV 11%); CL 95 L/h/70kg (IIV 13%). V1/V2/V3/Q not found.",
    ),
    Source(
        id="sigtermans2009_pkpd",
        authors="Sigtermans M, Dahan A, Mooren R, Bauer M, Kest B, Sarton E, Olofsen E",
        year=2009,
        title="S(+)-ketamine effect on experimental pain and cardiac output: a population pharmacokinetic-"
        "pharmacodynamic modeling study in healthy volunteers",
        journal="Anesthesiology 2009;111(4):892-903",
        kind="pk_model",
        checked="abstract",
        doi="10.1097/ALN.0b013e3181b437b1",
        pmid="19741495",
        note="10 men + 10 women (21.7 SD 0.5 y, 69.4 SD 2.4 kg; arterial), 2-h S-ketamine infusion stepped 40 ng/mL "
        "per 15 min to 320 ng/mL. Sigmoid Emax; women 20% greater S-ketamine and S-norketamine elimination "
        "clearance; heat-pain potency 6x electrical; no consistent norketamine contribution. PK/PD values not read.",
    ),
    Source(
        id="olofsen2012",
        authors="Olofsen E, Noppers I, Niesters M, Kharasch E, Aarts L, Sarton E, Dahan A",
        year=2012,
        title="Estimation of the contribution of norketamine to ketamine-induced acute pain relief and "
        "neurocognitive impairment in healthy volunteers",
        journal="Anesthesiology 2012;117(2):353",
        kind="study",
        url="https://pubs.asahq.org/anesthesiology/article/117/2/353/13169",
        checked="abstract",
        note="12 healthy men, S-ketamine 20 mg/h x 2 h +/- rifampicin. Blood-effect-site equilibration t1/2 0 "
        "(cognitive flexibility) to 11.8 min (pain intensity), mean 6.1 min across endpoints -> ke0 0.0587 /min "
        "(pain) / 0.114 /min (mean) (our arithmetic). At effect conc ketamine 100 + norketamine 50 ng/mL: -3.8 cm + "
        "1.5 cm = -2.3 cm VAS.",
    ),
    # ----------------------------------------------------------------- adult models with IIV (code)
    Source(
        id="perezruixo2021",
        authors="Perez-Ruixo C, Rossenu S, Zannikos P, Nandy P, Singh J, Drevets WC, Perez-Ruixo JJ",
        year=2021,
        title="Population pharmacokinetics of esketamine nasal spray and its metabolite noresketamine in healthy "
        "subjects and patients with treatment-resistant depression",
        journal="Clin Pharmacokinet 2021;60(4):501-516",
        kind="pk_model",
        checked="code",
        doi="10.1007/s40262-020-00953-4",
        url="https://github.com/nlmixr2/nlmixr2lib/blob/main/inst/modeldb/specificDrugs/PerezRuixo_2020_esketamine.R",
        note="Read in nlmixr2lib (transcribes Table 3). 820 adults (256 healthy, 564 TRD), 18-86 y (median 45), "
        "39-170 kg (median 74), esketamine IN/IV/PO. 3-cmt + hepato-portal cmt: Vc 192 L (IIV 27.5%), Q1 84.3 L/h, "
        "Vp1 143 L (49.3%), Q2 37.6 L/h, Vp2 417 L, Qh 151 L/h (23.2%; -2.19 L/h per year over 60), Vh 101 L "
        "(34.6%), kel 1.11 /h (120%), kmet 2.77 /h (IIV value blank in paper). Nasal: FRn 0.54 per spray (logit "
        "SD 0.708), ka_n 2.93 /h (61.5%); later 28-mg sprays x0.62. Fgut 0.64; PO: zero-order 0.32 h then ka_po "
        "0.97 /h (132%). No weight covariate. Derived (our arithmetic): E 0.722, plasma CL 109 L/h, F_oral 0.178, "
        "F_nasal 0.62 for a first spray alone (0.54 + 0.46 x 0.178); with the x0.62 on later devices a 56 / 84 mg "
        "session gives about 0.54 / 0.51. The model's intranasal F is the label's 48% (spravato_pi_pk), not this "
        "derivation; ka_n 2.93 /h is kept (tmax 32 min in this model, inside the label's 20-40 min). Noresketamine "
        "(apparent 2-cmt: Vcn/F 70 L, CLn/F 38 L/h, Vpn/F 115 L, Q3/F 26.1 L/h in nlmixr2lib) is NOT ported.",
    ),
    Source(
        id="flint2017",
        authors="Flint RB, Brouwer CNM, Kranzlin ASC, Lie-A-Huen L, Bos AP, Mathot RAA",
        year=2017,
        title="Pharmacokinetics of S-ketamine during prolonged sedation at the pediatric intensive care unit",
        journal="Paediatr Anaesth 2017;27(11):1098-1107",
        kind="pk_model",
        checked="code",
        doi="10.1111/pan.13239",
        url="https://github.com/nlmixr2/nlmixr2lib/blob/main/inst/modeldb/specificDrugs/Flint_2017_s_ketamine.R",
        note="Read in nlmixr2lib (Table 3): 25 ventilated PICU children 0.02-12.5 y, 3.4-35 kg. S-ketamine 2-cmt at "
        "70 kg: CL 112 L/h (IIV 40.2%), V1 7.73 L, Q 196 L/h, V2 545 L (no IIV on these); exponents 0.75/1. "
        "S-norketamine CL/Fm 53.2 L/h (IIV 104%, r=0.506 with CL), V/Fm 1 L fixed; +0.870%/h. Prop. error 41.9%.",
    ),
    Source(
        id="otto2021",
        authors="Otto ME, et al. (co-authors not read)",
        year=2021,
        title="Predictive performance of parent-metabolite population pharmacokinetic models of (S)-ketamine in "
        "healthy volunteers",
        journal="Eur J Clin Pharmacol 2021;77(8):1181",
        kind="study",
        checked="source_text",
        doi="10.1007/s00228-021-03104-1",
        note="Table 2 read (Springer table page): Sigtermans arterial 20 (10 M) 21.7 y 69.4 kg; Dahan venous CRPS-1 "
        "30 (8 M) 46 SD 12 y 79 SD 19 kg; Noppers arterial 20 M 22 y; Fanta venous 11 M 22.3 y 77 kg; Jonkman "
        "arterial 19 (10 M) 24 y. Abstract: Fanta best for S-ketamine; arterial models overpredict early venous.",
    ),
    Source(
        id="simons2022",
        authors="Simons P, Olofsen E, van Velzen M, van Lemmen M, Mooren R, van Dasselaar T, Mohr P, Hammes F, "
        "van der Schrier R, Niesters M, Dahan A",
        year=2022,
        title="S-ketamine oral thin film - Part 1: population pharmacokinetics of S-ketamine, S-norketamine and "
        "S-hydroxynorketamine",
        journal="Front Pain Res 2022;3:946486",
        kind="pk_model",
        checked="abstract",
        doi="10.3389/fpain.2022.946486",
        pmid="35899184",
        note="20 volunteers (10 M/10 F), 19-32 y, 53-93 kg (thesis text), arterial sampling; 50 or 100 mg S-ketamine "
        "film sublingual/buccal, then 20 mg IV over 20 min. F 26 +/- 1% (100 mg film 20% lower, n.s.); mean local "
        "absorption ~13 min (thesis). Part 2 (doi 10.3389/fpain.2022.946487): C50 antinociception 1.2-1.7 nmol/mL, "
        "drug high 0.3 nmol/mL (S-ketamine). Parameter table not read.",
    ),
    # ----------------------------------------------------------------- extravascular routes
    Source(
        id="yanagihara2003",
        authors="Yanagihara Y, et al. (co-authors not read)",
        year=2003,
        title="Plasma concentration profiles of ketamine and norketamine after administration of various ketamine "
        "preparations to healthy Japanese volunteers",
        journal="Biopharm Drug Dispos 2003;24(1):37-43",
        kind="study",
        checked="abstract",
        doi="10.1002/bdd.336",
        pmid="12516077",
        url="https://pubmed.ncbi.nlm.nih.gov/12516077/",
        note="Abstract read (PubMed record, via a BMJ mirror): n=3 healthy volunteers, each given every preparation "
        "(within-subject comparison with IV); 20 mg IV, 2x25 mg tablet, 2x25 mg sublingual, 50 mg suppository, 25 mg "
        "nasal spray. F approx 20% tablet, 30% sublingual, 30% suppository, 45% nasal spray ('the highest value among "
        "the preparations tested'); nasal norketamine AUC(0-6 h) ~100 ng.h/mL, low. IV t1/2-beta ~120 min. No tmax in "
        "the abstract. Source of the racemic intranasal F 0.45 in the model registry.",
    ),
    Source(
        id="chong2006",
        authors="Chong C, Schug S, Page-Sharp M, Ilett K",
        year=2006,
        title="Bioavailability of ketamine after oral or sublingual administration (abstract)",
        journal="Pain Med 2006;7(5):469",
        kind="study",
        checked="abstract",
        url="https://www.ketamine.com/bioavailability.html",
        note="Conference abstract (reproduced on ketamine.com). 6 neuropathic-pain inpatients, crossover 10 mg IV, "
        "25 mg SL, 25 mg PO. F: SL 32 +/- 17%, PO 23 +/- 9% (with norketamine 54 / 59%). Tmax (h): IV 0.24 +/- 0.29, "
        "SL 0.76 +/- 0.51, PO 0.96 +/- 0.8.",
    ),
    Source(
        id="rolan2014",
        authors="Rolan P, Lim S, Sunderland V, Liu Y, Molnar V",
        year=2014,
        title="The absolute bioavailability of racemic ketamine from a novel sublingual formulation",
        journal="Br J Clin Pharmacol 2014;77(6):1011-1016",
        kind="study",
        checked="abstract",
        doi="10.1111/bcp.12264",
        pmid="24977293",
        note="8 healthy men; 10 mg IV over 30 min vs 25 mg sublingual wafer. F median 29% (90% CI 27-31%); first "
        "quantifiable conc within 5 min; tmax median 0.75 h (0.25-1.0 h).",
    ),
    Source(
        id="intranasal2022",
        authors="UNVERIFIED (authors not seen; PMC9118341)",
        year=2022,
        title="UNVERIFIED title: intranasal vs intravenous racemic ketamine pharmacokinetics (Table 6 read)",
        journal="Pharmacotherapy 2022;42(4):298-310",
        kind="study",
        checked="source_text",
        doi="10.1002/phar.2669",
        url="https://pmc.ncbi.nlm.nih.gov/articles/PMC9118341/table/T6",
        note="Table 6 (geometric means): 10 mg IV Cmax 296 ng/mL, tmax 2 min; IN 10 / 30 / 50 mg: F 17 / 13 / 11%, "
        "Cmax 22.9 / 60.8 / 77.6 ng/mL, tmax 23 / 14 / 16 min (GSD 3.0 / 3.8 / 4.4); n 9 IV and 7 / 10 / 10 IN. F is "
        "dose-normalised AUC against the 10-mg IV group (AUC/D 116 / 91 / 77 vs 678). Only Table 6 was read: study "
        "population and device unknown. Its F is the low outlier of the intranasal literature (Yanagihara 2003 ~45%, "
        "Malinovsky 1996 50%): the model uses 0.45 and keeps only this table's tmax (16 min).",
    ),
    Source(
        id="malinovsky1996",
        authors="Malinovsky JM, Servin F, Cozian A, Lepage JY, Pinaud M",
        year=1996,
        title="Ketamine and norketamine plasma concentrations after i.v., nasal and rectal administration in children",
        journal="Br J Anaesth 1996;77(2):203-207",
        kind="study",
        checked="abstract",
        doi="10.1093/bja/77.2.203",
        note="Abstract read (publisher and metajournal copies): 32 children 2-9 y, 10-30 kg, under halothane; ketamine "
        "3 or 9 mg/kg nasal, 9 mg/kg rectal, 3 mg/kg IV (parallel groups). Ketamine peaks 496 ng/mL at 20 min (IN 3) "
        "and 2104 ng/mL at 21 min (IN 9). Bioavailability 0.50 nasal (both doses) and 0.25 rectal: the 25% is the "
        "RECTAL value, not nasal. Large nasal volumes were partly swallowed.",
    ),
    Source(
        id="spravato_pi_pk",
        authors="Janssen Pharmaceuticals",
        year=2019,
        title="SPRAVATO (esketamine) nasal spray, US prescribing information, section 12.3 Pharmacokinetics",
        journal="US FDA label (NDA 211243; DailyMed set id d81a6a79-a74a-44b7-822c-0dfa3036eaed)",
        kind="label",
        checked="secondary",
        url="https://jnjmedicalconnect.com/products/spravato/medical-content/measurement-of-plasma-levels-of-spravato",
        note="The label text itself was not read; its numbers were read as quoted by Janssen Medical Information "
        "('Following nasal spray administration, the mean absolute bioavailability of ESK is 48%'; tmax 20 to 40 "
        "minutes after the last nasal spray of a session; biphasic decline, terminal t1/2 7-12 h; noresketamine "
        "terminal t1/2 ~8 h) and by a Current Psychiatry drug review (F approximately 48%, Tmax 20-40 min). "
        "Source of the esketamine intranasal F 0.48.",
    ),
    Source(
        id="huge2010",
        authors="Huge V, et al. (co-authors not read)",
        year=2010,
        title="Effects of low-dose intranasal (S)-ketamine in patients with neuropathic pain",
        journal="Eur J Pain 2010;14(4):387-394",
        kind="study",
        checked="abstract",
        doi="10.1016/j.ejpain.2009.08.002",
        pmid="19733106",
        note="16 neuropathic-pain patients, IN S-ketamine 0.2 or 0.4 mg/kg: Cmax 27.7 +/- 5.9 ng/mL at 10 +/- 6.3 min "
        "and 34.3 +/- 22.2 ng/mL at 13.8 +/- 4.8 min. S-norketamine peaks 75-81 min. No F reported in the abstract.",
    ),
    Source(
        id="clements1982",
        authors="Clements JA, Nimmo WS, Grant IS (UNVERIFIED)",
        year=1982,
        title="UNVERIFIED: bioavailability, pharmacokinetics and analgesic activity of ketamine in humans",
        journal="J Pharm Sci 1982 (UNVERIFIED)",
        kind="study",
        url="https://pubmed.ncbi.nlm.nih.gov/?term=Clements+JA+Nimmo+WS+Grant+IS+1982+ketamine+bioavailability",
        checked="secondary",
        note="Not found. IM F 93% (and oral ~17-20%) appear only in encyclopaedia infoboxes; adult IM tmax unknown. "
        "Treat adult IM F 0.93 as secondary until checked.",
    ),
    Source(
        id="brunette2011",
        authors="Brunette KEJ, Anderson BJ, Thomas J, Wiesner L, Herd DW, Schulein S",
        year=2011,
        title="Exploring the pharmacokinetics of oral ketamine in children undergoing burns procedures",
        journal="Paediatr Anaesth 2011;21(6):653-662",
        kind="pk_model",
        checked="abstract",
        doi="10.1111/j.1460-9592.2011.03548.x",
        pmid="21355949",
        note="Pooled 91 subjects (20 burns children 1-8 y, 7.9-25 kg, plus 70 earlier subjects and one adult profile). "
        "2-cmt; oral F 0.45 (90% CI 0.33-0.58); absorption half-time 59 min (29.4-109.2; BSV 148%) -> ka 0.0117 /min "
        "(our arithmetic).",
    ),
    # ----------------------------------------------------------------- concentration bands
    Source(
        id="bowdle1998",
        authors="Bowdle TA, Radant AD, Cowley DS, Kharasch ED, Strassman RJ, Roy-Byrne PP",
        year=1998,
        title="Psychedelic effects of ketamine in healthy volunteers: relationship to steady-state plasma "
        "concentrations",
        journal="Anesthesiology 1998;88(1):82-88",
        kind="study",
        checked="abstract",
        doi="10.1097/00000542-199801000-00015",
        note="10 psychiatrically healthy volunteers, computer-assisted infusion to targets 0/50/100/150/200 ng/mL, "
        "30 min each, venous samples. VAS psychedelic effects linear in steady-state venous concentration over "
        "50-200 ng/mL (R 0.93-0.99).",
    ),
    Source(
        id="idvall1979",
        authors="Idvall J, Ahlgren I, Aronsen KR, Stenberg P (UNVERIFIED, memory)",
        year=1979,
        title="Ketamine infusions: pharmacokinetics and clinical effects",
        journal="Br J Anaesth 1979;51(12):1167-1173",
        kind="study",
        checked="abstract",
        doi="10.1093/bja/51.12.1167",
        pmid="526385",
        note="31 adult surgical patients (MeSH adult/middle aged/aged), 2 mg/kg induction + infusion with N2O. "
        "Maintenance 41 +/- 21 ug/kg/min gave 9.3 +/- 0.8 umol/L (2.21 mg/L); recovery at 2.7 +/- 0.9 umol/L "
        "(0.64 mg/L) (MW 237.73). Plasma t1/2 79 +/- 8 min.",
    ),
    Source(
        id="langsjo2005",
        authors="Långsjö JW, Maksimow A, Salmi E, Kaisti K, Aalto S, et al.",
        year=2005,
        title="S-ketamine anesthesia increases cerebral blood flow in excess of the metabolic needs in humans",
        journal="Anesthesiology 2005;103(2):258-268",
        kind="study",
        checked="abstract",
        doi="10.1097/00000542-200508000-00008",
        pmid="16052107",
        note="8 healthy men; S-ketamine serum 159 +/- 21 ng/mL (subanaesthetic target 150) and 1959 +/- 442 ng/mL "
        "(anaesthetic target 1500-2000).",
    ),
    # ----------------------------------------------------------------- software
    Source(
        id="opentiva",
        authors="opentiva contributors",
        year=2021,
        title="opentiva: Python TCI library, module opentiva/ketamine.py (MIT licence)",
        journal="GitHub opentiva/opentiva, commit a18149915d88878cde77540111e212069ba15934",
        kind="other",
        checked="code",
        url="https://github.com/opentiva/opentiva",
        note="Source of the transcribed Clements250/Domino/Hijazi/Herd/Hornik parameter sets and of ke0 values that "
        "are NOT published PD: each commented 'from tpeak 1 min' (Clements 5.2, Domino 0.652, Hijazi 4.773, Herd "
        "2.995, Hornik 4.212 /min). Label any use of them 'derived (opentiva, tpeak 1 min)'.",
    ),
    Source(
        id="nlmixr2lib",
        authors="Fidler M, Hooijmaijers R, et al.",
        year=None,
        title="nlmixr2lib: a model library for nlmixr2",
        journal="GitHub nlmixr2/nlmixr2lib",
        kind="other",
        checked="code",
        url="https://github.com/nlmixr2/nlmixr2lib",
        note="Model files read: inst/modeldb/specificDrugs/Flint_2017_s_ketamine.R and PerezRuixo_2020_esketamine.R "
        "(see flint2017, perezruixo2021). No adult racemic ketamine model found there.",
    ),
    Source(
        id="pytci",
        authors="Mathiszig-Lee J",
        year=2017,
        title="PyTCI: a package for target controlled infusions (v1.2.0, MIT licence)",
        journal="PyPI PyTCI 1.2.0; GitHub JMathiszig-Lee/PyTCI",
        kind="other",
        checked="code",
        url="https://github.com/JMathiszig-Lee/PyTCI",
        note="No ketamine model (propofol, remifentanil, alfentanil, dexmedetomidine, remimazolam). Subclass "
        "models.base.Three with v1 and k10..k31, keo in /min, call setup() (converts to /s); "
        "set_integrator('exact') for matrix-exponential steps; giveoverseconds(rate_per_s, secs), wait_time(s); "
        "x1 = plasma conc. Useful only as an independent 3-cmt benchmark.",
    ),
)
