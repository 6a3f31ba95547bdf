"""Medication names: free text as a patient or a referral writes it, matched to generic drugs and
the interaction classes screening cares about (contract 4.2 v2).

Pure and table-driven. A medication line such as ``"Nardil 15 mg"`` or ``"OXYCONTIN 20mg ER"`` is
normalised (case folded, apostrophes dropped, every other non-letter-or-digit made a space) and
each generic or brand name is looked for as a *whole word or phrase*: a name must not be preceded
or followed by a letter, so ``norco`` does not match inside another word, while doses and
strengths (``15 mg``, ``20mg``, ``ER``) around it are ignored. Combination products map to every
ingredient that matters (Percocet: oxycodone; Paxlovid: nirmatrelvir with ritonavir).

The brand names are US trade names as they appear on the products' FDA labels (DailyMed / the FDA
NDC directory, source ``us_drug_names``); a brand maps to its active ingredient(s) only. The class
of each generic (which ones are MAO inhibitors, CNS depressants, CYP3A4 inhibitors ...) is what the
screening rules cite, each with its own source, in :mod:`ketaclinic.clinical.screening`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from ketaclinic.evidence.sources import ref

NAMES_SOURCE = ref("us_drug_names")


class DrugClass(StrEnum):
    """The interaction classes screening reports (one ``interaction_*`` code each)."""

    MAOI = "maoi"
    BENZODIAZEPINE = "benzodiazepine"
    OPIOID = "opioid"
    PSYCHOSTIMULANT = "psychostimulant"
    CYP3A4_INHIBITOR = "cyp3a4_inhibitor"
    CYP2B6_INHIBITOR = "cyp2b6_inhibitor"
    CYP_INDUCER = "cyp_inducer"
    SEIZURE_THRESHOLD = "seizure_threshold"
    CNS_DEPRESSANT = "cns_depressant"
    LAMOTRIGINE = "lamotrigine"


@dataclass(frozen=True)
class Drug:
    """One active ingredient: its generic name, other generic spellings, US brands, classes."""

    generic: str
    classes: tuple[DrugClass, ...]
    brands: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()


_C = DrugClass

DRUGS: tuple[Drug, ...] = (
    # --- MAO inhibitors (antidepressant, antiparkinsonian, and the antibiotic / dye with MAO-inhibiting action)
    Drug("phenelzine", (_C.MAOI,), ("Nardil",)),
    Drug("tranylcypromine", (_C.MAOI,), ("Parnate",)),
    Drug("isocarboxazid", (_C.MAOI,), ("Marplan",)),
    Drug("selegiline", (_C.MAOI,), ("Emsam", "Eldepryl", "Zelapar")),
    Drug("rasagiline", (_C.MAOI,), ("Azilect",)),
    Drug("safinamide", (_C.MAOI,), ("Xadago",)),
    Drug("moclobemide", (_C.MAOI,), ("Manerix",)),
    Drug("linezolid", (_C.MAOI,), ("Zyvox",)),
    Drug("methylene blue", (_C.MAOI,), ("ProvayBlue",), ("methylthioninium",)),
    # --- benzodiazepines
    Drug("lorazepam", (_C.BENZODIAZEPINE,), ("Ativan", "Loreev")),
    Drug("clonazepam", (_C.BENZODIAZEPINE,), ("Klonopin",)),
    Drug("diazepam", (_C.BENZODIAZEPINE,), ("Valium", "Diastat", "Valtoco")),
    Drug("alprazolam", (_C.BENZODIAZEPINE,), ("Xanax",)),
    Drug("temazepam", (_C.BENZODIAZEPINE,), ("Restoril",)),
    Drug("triazolam", (_C.BENZODIAZEPINE,), ("Halcion",)),
    Drug("midazolam", (_C.BENZODIAZEPINE,), ("Versed", "Nayzilam")),
    Drug("chlordiazepoxide", (_C.BENZODIAZEPINE,), ("Librium",)),
    Drug("clobazam", (_C.BENZODIAZEPINE,), ("Onfi", "Sympazan")),
    Drug("clorazepate", (_C.BENZODIAZEPINE,), ("Tranxene",)),
    Drug("oxazepam", (_C.BENZODIAZEPINE,)),
    Drug("estazolam", (_C.BENZODIAZEPINE,)),
    Drug("flurazepam", (_C.BENZODIAZEPINE,)),
    Drug("benzodiazepine", (_C.BENZODIAZEPINE,), synonyms=("benzodiazepines", "benzo", "benzos")),
    # --- opioids
    Drug("oxycodone", (_C.OPIOID,), ("OxyContin", "Roxicodone", "Oxaydo", "Xtampza", "Percocet", "Endocet",
                                     "Percodan", "Roxicet")),
    Drug("hydrocodone", (_C.OPIOID,), ("Norco", "Vicodin", "Lortab", "Zohydro", "Hysingla", "Lorcet")),
    Drug("hydromorphone", (_C.OPIOID,), ("Dilaudid", "Exalgo")),
    Drug("buprenorphine", (_C.OPIOID,), ("Suboxone", "Subutex", "Zubsolv", "Butrans", "Belbuca", "Sublocade",
                                         "Brixadi")),
    Drug("fentanyl", (_C.OPIOID,), ("Duragesic", "Actiq", "Fentora", "Subsys")),
    Drug("morphine", (_C.OPIOID,), ("MS Contin", "Kadian", "Arymo")),
    Drug("tapentadol", (_C.OPIOID,), ("Nucynta",)),
    Drug("tramadol", (_C.OPIOID,), ("Ultram", "Ultracet", "ConZip", "Qdolo")),
    Drug("oxymorphone", (_C.OPIOID,), ("Opana",)),
    Drug("methadone", (_C.OPIOID,), ("Dolophine", "Methadose")),
    Drug("codeine", (_C.OPIOID,), ("Tylenol with Codeine", "Tylenol #3", "Tylenol 3")),
    Drug("meperidine", (_C.OPIOID,), ("Demerol",), ("pethidine",)),
    Drug("levorphanol", (_C.OPIOID,)),
    Drug("opioid", (_C.OPIOID,), synonyms=("opioids", "opiate", "opiates")),
    # --- psychostimulants
    Drug("amphetamine", (_C.PSYCHOSTIMULANT,), ("Adderall", "Mydayis", "Evekeo", "Adzenys"), ("amfetamine",)),
    Drug("dextroamphetamine", (_C.PSYCHOSTIMULANT,), ("Dexedrine", "Zenzedi")),
    Drug("lisdexamfetamine", (_C.PSYCHOSTIMULANT,), ("Vyvanse",)),
    Drug("methamphetamine", (_C.PSYCHOSTIMULANT,), ("Desoxyn",)),
    Drug("methylphenidate", (_C.PSYCHOSTIMULANT,), ("Ritalin", "Concerta", "Metadate", "Methylin", "Daytrana",
                                                    "QuilliChew", "Quillivant", "Jornay", "Aptensio")),
    Drug("dexmethylphenidate", (_C.PSYCHOSTIMULANT,), ("Focalin",)),
    Drug("modafinil", (_C.PSYCHOSTIMULANT,), ("Provigil",)),
    Drug("armodafinil", (_C.PSYCHOSTIMULANT,), ("Nuvigil",)),
    # --- CYP3A4 inhibitors
    Drug("clarithromycin", (_C.CYP3A4_INHIBITOR,), ("Biaxin",)),
    Drug("erythromycin", (_C.CYP3A4_INHIBITOR,), ("Ery-Tab", "EryPed", "Erythrocin")),
    Drug("ketoconazole", (_C.CYP3A4_INHIBITOR,), ("Nizoral",)),
    Drug("itraconazole", (_C.CYP3A4_INHIBITOR,), ("Sporanox", "Tolsura")),
    Drug("voriconazole", (_C.CYP3A4_INHIBITOR,), ("Vfend",)),
    Drug("posaconazole", (_C.CYP3A4_INHIBITOR,), ("Noxafil",)),
    Drug("ritonavir", (_C.CYP3A4_INHIBITOR,), ("Norvir", "Paxlovid", "Kaletra")),
    Drug("nirmatrelvir", (_C.CYP3A4_INHIBITOR,), ("Paxlovid",)),
    Drug("cobicistat", (_C.CYP3A4_INHIBITOR,), ("Tybost",)),
    Drug("grapefruit", (_C.CYP3A4_INHIBITOR,)),
    # --- CYP2B6 inhibitor
    Drug("ticlopidine", (_C.CYP2B6_INHIBITOR,), ("Ticlid",)),
    # --- enzyme inducers
    Drug("carbamazepine", (_C.CYP_INDUCER,), ("Tegretol", "Carbatrol", "Equetro", "Epitol")),
    Drug("phenytoin", (_C.CYP_INDUCER,), ("Dilantin", "Phenytek")),
    Drug("fosphenytoin", (_C.CYP_INDUCER,), ("Cerebyx",)),
    Drug("rifampin", (_C.CYP_INDUCER,), ("Rifadin", "Rimactane"), ("rifampicin",)),
    Drug("phenobarbital", (_C.CYP_INDUCER, _C.CNS_DEPRESSANT), (), ("phenobarbitone",)),
    Drug("st john's wort", (_C.CYP_INDUCER,), (), ("st john wort", "st johns wort", "saint john's wort", "hypericum",
                                                  "st john's", "st johns")),
    # --- lower the seizure threshold with ketamine
    Drug("theophylline", (_C.SEIZURE_THRESHOLD,), ("Theo-24", "Uniphyl", "Elixophyllin", "Theochron", "Theo-Dur")),
    Drug("aminophylline", (_C.SEIZURE_THRESHOLD,)),
    # --- other CNS depressants: gabapentinoids, Z-drugs
    Drug("gabapentin", (_C.CNS_DEPRESSANT,), ("Neurontin", "Gralise", "Horizant"), ("gabapentin enacarbil",)),
    Drug("pregabalin", (_C.CNS_DEPRESSANT,), ("Lyrica",)),
    Drug("zolpidem", (_C.CNS_DEPRESSANT,), ("Ambien", "Edluar", "Intermezzo")),
    Drug("zopiclone", (_C.CNS_DEPRESSANT,), ("Imovane", "Zimovane")),
    Drug("eszopiclone", (_C.CNS_DEPRESSANT,), ("Lunesta",)),
    Drug("zaleplon", (_C.CNS_DEPRESSANT,), ("Sonata",)),
    # --- lamotrigine (attenuates ketamine's effects in volunteers)
    Drug("lamotrigine", (_C.LAMOTRIGINE,), ("Lamictal",)),
)


def normalise(text: str) -> str:
    """Case-folded, apostrophes dropped, anything not a letter or digit a single space."""
    folded = text.casefold().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", folded).split())


@dataclass(frozen=True)
class Match:
    """One drug found in one medication line, and the name that was found (generic or brand)."""

    text: str
    drug: Drug
    name: str
    by_brand: bool

    def label(self) -> str:
        """How a finding names it: ``Nardil 15 mg (phenelzine)``; the text alone for a generic."""
        if self.by_brand:
            return f"{self.text} ({self.drug.generic})"
        return self.text


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], Drug, str, bool], ...]:
    out = []
    for drug in DRUGS:
        names = [(drug.generic, False), *((s, False) for s in drug.synonyms), *((b, True) for b in drug.brands)]
        for name, by_brand in names:
            words = normalise(name)
            # a name is a whole word or phrase: no letter right before or after it (digits may follow: "20mg")
            out.append((re.compile(rf"(?<![a-z]){re.escape(words)}(?![a-z])"), drug, name, by_brand))
    return tuple(out)


def match_medication(text: str) -> list[Match]:
    """Every drug named in one medication line (each drug once; a generic name wins over a brand)."""
    norm = normalise(text)
    found: dict[str, Match] = {}
    for pattern, drug, name, by_brand in _patterns():
        if pattern.search(norm):
            previous = found.get(drug.generic)
            if previous is None or (previous.by_brand and not by_brand):
                found[drug.generic] = Match(text, drug, name, by_brand)
    return list(found.values())


def classes_of(text: str) -> set[DrugClass]:
    """The interaction classes of every drug one medication line names."""
    return {c for m in match_medication(text) for c in m.drug.classes}


def brand_table() -> dict[str, str]:
    """Brand name -> generic (a brand of a combination product maps to each ingredient, ``+``-joined)."""
    table: dict[str, list[str]] = {}
    for drug in DRUGS:
        for brand in drug.brands:
            table.setdefault(brand, []).append(drug.generic)
    return {brand: " + ".join(generics) for brand, generics in table.items()}
