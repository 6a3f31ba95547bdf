"""The demo clinic's medication record (issue 14): PRN orders on demo plans and PRN doses given.

Called by :mod:`ketaclinic.demo`: :func:`add_orders` right after a demo plan is signed (the orders are
signed amendments, written five minutes later), :func:`antiemetic` where a demo session's nausea alert
asks to give medication. Two plans in three carry orders; a plan without an ondansetron order keeps the
free-form record the demo wrote before (an old record stays readable). The lot number takes the same one
draw from the demo's random generator as before, so every other demo record stays as it was. Every record
is synthetic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ketaclinic.services import medication_orders as service

ONDANSETRON = {"drug": "ondansetron", "dose_mg": 4, "route": "iv", "indication": "nausea_vomiting",
               "max_doses_per_session": 2, "instructions": "Synthetic demo: for moderate nausea or vomiting."}
LABETALOL = {"drug": "labetalol", "dose_mg": 20, "route": "iv", "indication": "hypertension", "max_doses_per_session": 1,
             "instructions": "Synthetic demo: over 2 minutes, patient supine, if 180/110 or more on a repeat reading."}
MIDAZOLAM = {"drug": "midazolam", "dose_mg": 1, "route": "iv", "indication": "psychomimetic_distress",
             "max_doses_per_session": 2, "instructions": "Synthetic demo: for distressing dissociation after reassurance."}
CLONIDINE = {"drug": "clonidine", "dose_mg": 0.1, "route": "oral", "indication": "premedication",
             "max_doses_per_session": 1, "instructions": "Synthetic demo: before the infusion (Schwartzman 2009)."}
SETS: tuple[tuple[dict[str, Any], ...], ...] = (
    (ONDANSETRON,),
    (ONDANSETRON, LABETALOL, MIDAZOLAM),
    (),
    (ONDANSETRON, CLONIDINE),
)


def add_orders(clinic: Any, index: int, plan: Any) -> None:
    """PRN orders on a signed demo plan (a signed amendment by the demo physician), by the patient's index."""
    physician = clinic.actors["physician"]
    at = (plan.signed_at or clinic.now) + timedelta(minutes=5)
    for body in SETS[index % len(SETS)]:
        service.add_order(clinic.db, physician, plan.id, service.OrderIn.model_validate(body), now=at)
        clinic.count("prn_orders")


def antiemetic(clinic: Any, session_id: int, when: datetime) -> None:
    """The antiemetic a demo nausea alert calls for: through the plan's ondansetron order when it has one
    (the nurse picks it and confirms), else the free-form record the demo kept before the orders."""
    nurse = clinic.actors["nurse"]
    lot = f"DEMO-OND-{clinic.rng.randint(1000, 9999)}"
    bedside = service.session_prn(clinic.db, nurse, session_id, now=when)
    order = next((r.order for r in bedside.orders if r.order.drug == "ondansetron" and r.can_give), None)
    if order is None:
        clinic.event(session_id, {"kind": "medication", "drug": "ondansetron", "dose": 4, "unit": "mg", "route": "iv",
                                  "lot_number": lot,
                                  "reason": "Synthetic demo: moderate nausea."}, when)
        return
    service.give_dose(clinic.db, nurse, session_id, service.DoseIn(order_id=order.id, lot_number=lot), now=when)
    clinic.count("prn_doses")
