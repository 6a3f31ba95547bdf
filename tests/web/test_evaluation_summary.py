"""Issue 12: a signed evaluation opens as a short read-only summary; the physician's amendment form is
folded away below it, and a nurse sees no form at all."""

from __future__ import annotations

from tests.interop.flows import screening, signed_evaluation


def test_a_signed_evaluation_opens_as_a_summary(signed_in, db, clinic) -> None:
    document = screening(history={"psychosis": "history", "coronary": "stable"})
    document["medications"] = ["Nardil 15 mg", "gabapentin 300 mg"]
    evaluation = signed_evaluation(db, clinic, clinic.own_patient_id, document)
    nurse = signed_in("nurse").get(f"/evaluations/{evaluation.id}").text
    summary = nurse[nurse.index('id="evaluation-summary"'):nurse.index("</section>", nurse.index('id="evaluation-summary"'))]
    assert "Psychosis: history of" in summary and "Coronary disease: stable" in summary
    assert "Nardil 15 mg, gabapentin 300 mg" in summary and "Heart disease" not in summary  # "none" is not listed
    assert "<form" not in nurse[nurse.index('id="evaluation-summary"'):nurse.index("</aside>")].split("<aside")[0]
    physician = signed_in("physician").get(f"/evaluations/{evaluation.id}").text
    assert 'id="evaluation-summary"' in physician and '<details class="card" id="amend">' in physician
