"""A signed consent as a FHIR R4 ``Consent`` resource with the signed document attached (issue 13).

Pure: the facts in, a dict out, validated by ``fhir.resources`` (R4B). Scope ``treatment`` and category
LOINC 59284-0 ("Consent Document") as the FHIR Consent page's examples use them; ``status`` is ``active``
or, once withdrawn, ``inactive``; the attachment carries the PDF of the signed document with its SHA-1
(FHIR's ``Attachment.hash`` is SHA-1) and the document's own SHA-256 in the title.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from fhir.resources.R4B.consent import Consent

SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def consent_resource(*, signature_id: int, patient_id: int, signed_at: datetime, withdrawn: bool, typed_name: str,
                     document_title: str, document_version: int, document_sha256: str, pdf: bytes,
                     organization: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": f"consent-{signature_id}",
        "status": "inactive" if withdrawn else "active",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": "treatment", "display": "Treatment"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Consent Document"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": signed_at.isoformat(),
        "organization": [{"display": organization}],
        "sourceAttachment": {
            "contentType": "application/pdf",
            "data": base64.b64encode(pdf).decode("ascii"),
            "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),  # noqa: S324 - FHIR's choice
            "title": f"{document_title} (version {document_version}, SHA-256 {document_sha256}), signed by "
                     f"{typed_name}",
            "creation": signed_at.isoformat(),
        },
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN", "display": "opt-in"}]},
        "provision": {"type": "deny" if withdrawn else "permit"},
    }
    Consent.parse_obj(resource)  # raises if the resource is not valid R4B
    return resource
