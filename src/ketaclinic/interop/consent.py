"""A signed consent as a FHIR R4 ``Consent`` resource with the signed document attached (issue 13).

Pure: the facts in, a dict out, validated by ``fhir.resources`` (R4B). Scope ``treatment`` and category
LOINC 59284-0 ("Consent Document") as the FHIR Consent page's examples use them; ``status`` is ``active``
or, once withdrawn, ``inactive`` (its ``permit`` provision then ends at the withdrawal); the attachment
carries the PDF of the signed document with its SHA-1 (FHIR's ``Attachment.hash`` is SHA-1) and the
document's own SHA-256 in the title.

Two uses: :func:`consent_resource` answers ``/api/v1/consent-signatures/{id}/fhir`` on its own, and
:func:`add_consents` puts every signature into the patient's export Bundle (``interop/fhir.py``), where the
patient, the clinic's Organization and the ids are the Bundle's own ``urn:uuid`` references.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.consent import Consent

from ketaclinic.interop.fhir_codes import Code

SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: The codings a Consent carries. 59284-0 "Consent Document" is LOINC's current display (the FHIR consent-category
#: value set lists it; tx.fhir.org's expansion on LOINC 2.80/2.82, read in HL7 Switzerland's ConsentCategoriesVS,
#: 7 Dec 2026); consentscope ``treatment`` and v3-ActCode ``OPTIN`` are HL7 terminology codes.
SCOPE = Code(SCOPE_SYSTEM, "treatment", "Treatment")
CATEGORY = Code(LOINC, "59284-0", "Consent Document")
POLICY = Code(ACT_CODE, "OPTIN", "opt-in")
CONSENT_CODES: tuple[Code, ...] = (SCOPE, CATEGORY, POLICY)


@dataclass(frozen=True)
class ConsentRow:
    """One signature for the export Bundle: what was signed, by whom, when, and the signed PDF."""

    signature_id: int
    signed_at: datetime
    withdrawn_at: datetime | None
    typed_name: str
    document_title: str
    document_version: int
    document_sha256: str
    pdf: bytes


def _body(*, patient: dict[str, Any], organization: dict[str, Any], signed_at: datetime, withdrawn: bool,
          typed_name: str, document_title: str, document_version: int, document_sha256: str,
          pdf: bytes, withdrawn_at: datetime | None = None) -> dict[str, Any]:
    # withdrawn: inactive; it permitted treatment from the signature until the withdrawal (when that is known)
    provision: dict[str, Any] = {"type": "permit"}
    if withdrawn_at is not None:
        provision["period"] = {"start": signed_at.isoformat(), "end": withdrawn_at.isoformat()}
    elif withdrawn:
        provision = {"type": "deny"}
    return {
        "resourceType": "Consent",
        "status": "inactive" if withdrawn else "active",
        "scope": SCOPE.concept(),
        "category": [CATEGORY.concept()],
        "patient": patient,
        "dateTime": signed_at.isoformat(),
        "performer": [patient],  # the patient agrees (a staff witness is named in the signed PDF)
        "organization": [organization],
        "sourceAttachment": {
            "contentType": "application/pdf",
            "data": base64.b64encode(pdf).decode("ascii"),
            "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),  # noqa: S324 - FHIR's choice
            "title": f"{document_title} (version {document_version}, SHA-256 {document_sha256}), signed by "
                     f"{typed_name}",
            "creation": signed_at.isoformat(),
        },
        "policyRule": POLICY.concept(),
        "provision": provision,
    }


def consent_resource(*, signature_id: int, patient_id: int, signed_at: datetime, withdrawn: bool, typed_name: str,
                     document_title: str, document_version: int, document_sha256: str, pdf: bytes,
                     organization: str, withdrawn_at: datetime | None = None) -> dict[str, Any]:
    resource = {"id": f"consent-{signature_id}", **_body(
        patient={"reference": f"Patient/{patient_id}"}, organization={"display": organization}, signed_at=signed_at,
        withdrawn=withdrawn, typed_name=typed_name, document_title=document_title, document_version=document_version,
        document_sha256=document_sha256, pdf=pdf, withdrawn_at=withdrawn_at)}
    Consent.model_validate(resource)  # raises if the resource is not valid R4B
    return resource


def add_consents(b: Any, rows: Sequence[ConsentRow]) -> None:
    """Each signature as a ``Consent`` entry of the export Bundle (``b``: interop.fhir's builder), oldest first;
    a withdrawn one stays, ``inactive``, its permit ending at the withdrawal, so the record shows what was withdrawn."""
    for row in rows:
        resource = _body(patient=b.patient_ref, organization=b.organization(), signed_at=row.signed_at,
                         withdrawn=row.withdrawn_at is not None, typed_name=row.typed_name,
                         document_title=row.document_title, document_version=row.document_version,
                         document_sha256=row.document_sha256, pdf=row.pdf, withdrawn_at=row.withdrawn_at)
        resource["identifier"] = [b.identifier("consent-signature", row.signature_id)]
        b.add("consent", row.signature_id, resource)
