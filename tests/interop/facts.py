"""The clinical facts of a Bundle, without identifiers and references: what a round trip must keep."""

from __future__ import annotations

import json
from typing import Any

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.interop.fhir import EXPORT_CODES
from ketaclinic.interop.fhir_codes import ALL_CODES, ICD10CM, SNOMED

REFERRAL_TYPES = ("Condition", "MedicationStatement", "Observation")


def _codes(concept: dict[str, Any] | None) -> tuple:
    return tuple(sorted((c.get("system"), c.get("code")) for c in (concept or {}).get("coding") or []))


def _value(resource: dict[str, Any]) -> Any:
    for key in ("valueQuantity", "valueInteger", "valueString", "valueBoolean", "valueCodeableConcept"):
        if key in resource:
            value = resource[key]
            if key == "valueQuantity":
                return (float(value["value"]), value.get("code"))
            return json.dumps(value, sort_keys=True)
    return None


def fact(resource: dict[str, Any]) -> tuple:
    kind = resource["resourceType"]
    if kind == "Patient":
        name = resource["name"][0]
        return (kind, name["family"], tuple(name["given"]), resource["birthDate"], resource["gender"],
                tuple(sorted((t["system"], t["value"]) for t in resource.get("telecom", []))))
    if kind == "Condition":
        return (kind, _codes(resource["code"]), _codes(resource.get("clinicalStatus")),
                _codes(resource.get("verificationStatus")), resource.get("onsetDateTime"), resource.get("recordedDate"))
    if kind == "MedicationStatement":
        return (kind, resource["medicationCodeableConcept"].get("text"), resource["status"], resource.get("dateAsserted"))
    if kind == "Observation":
        components = tuple(sorted((_codes(c["code"]), _value(c)) for c in resource.get("component", [])))
        return (kind, _codes(resource["code"]), resource["status"], resource.get("effectiveDateTime"), _value(resource),
                components)
    raise ValueError(kind)


def referral_facts(bundle: dict[str, Any]) -> list[tuple]:
    """Patient, Condition, MedicationStatement, Observation facts, sorted (a multiset)."""
    return sorted((fact(e["resource"]) for e in bundle["entry"]
                   if e["resource"]["resourceType"] in ("Patient", *REFERRAL_TYPES)), key=repr)


def unknown_codes(bundle: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    """Codings whose (system, code, display) is neither in the export's code table nor the condition catalogue."""
    known = {(c.system, c.code, c.display) for c in (*ALL_CODES, *EXPORT_CODES)}
    for condition in CONDITIONS.values():
        known |= {(ICD10CM, c.code, c.display) for c in condition.icd10cm}
        known |= {(SNOMED, c.code, c.display) for c in condition.snomed}
    found: set[tuple[str, str, str | None]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "system" in node and "code" in node and ("display" in node or "value" not in node):
                found.add((node["system"], node["code"], node.get("display")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bundle)
    ucum = {item for item in found if item[0] == "http://unitsofmeasure.org"}
    return {item for item in found - ucum if item not in known}
