"""Sources for the clinic's day: who must be in the building and how many patients one nurse watches (issue 13).

The numbers the schedule uses are clinic policy (``catalog/policy.py``); these sources are what the policy
was set against. ``checked`` as in the other catalogue modules.
"""

from ketaclinic.evidence.sources import Source

SOURCES = (
    Source(
        id="apna_ketamine_checklist",
        authors="American Psychiatric Nurses Association",
        year=None,
        title="Ketamine Infusion Therapy Treatment Considerations (checklist)",
        journal="APNA",
        kind="guideline",
        checked="source_text",
        url="http://www.apna.org/ketamine-infusion-therapy",
        note="Asks each clinic to review its state's nursing, medical, drug and facility statutes before giving "
        "ketamine infusions; state rules differ on whether the ordering practitioner must be on the premises. "
        "KetaClinic's rule that a physician is on site for the whole of every infusion is clinic policy set "
        "against this (a clinic setting may turn it off where the state and the medical director allow).",
    ),
    Source(
        id="ca_title22_70217",
        authors="California Department of Public Health",
        year=None,
        title="California Code of Regulations, Title 22, §70217 Nursing Service Staff (licensed nurse-to-patient ratios)",
        journal="Cal. Code Regs. tit. 22 § 70217",
        kind="standard",
        checked="secondary",
        url="https://www.law.cornell.edu/regulations/california/22-CCR-70217",
        note="Sets 1:2 or fewer in critical care and post-anaesthesia recovery units of general acute care "
        "hospitals (as reproduced by the California Nurses Association and legal summaries). Not binding on an "
        "outpatient infusion clinic: KetaClinic's default of one running infusion per nurse is clinic policy, and "
        "the setting may be raised to at most this 1:2 ratio.",
    ),
)
