"""The identifiers a KetaClinic export writes: full URLs and identifier systems, all ``urn:uuid``.

Pure (no database): the installation's UUID (``records.installation``, read by the service) is
passed in. Shared by the export (:mod:`ketaclinic.interop.fhir`) and the referral import, which
points the facts it keeps at the new chart's :func:`full_url`.

Identifier systems (issue 18): a FHIR ``Identifier.system`` must be a URI its reader can trust to
name one namespace. KetaClinic has no registered OID arc and no web domain of its own to mint
``https://`` systems under, and an invented ``urn:ketaclinic:`` URN scheme is not registered
(RFC 8141) either. So each kind of record of each installation gets a ``urn:uuid`` system: UUID 5
of the installation's random UUID and the kind (:func:`identifier_system`). It is globally unique
without any registry, stable across exports, and two clinics' patient #1 never share a system.
A value that is itself a URI (the Bundle's own ``urn:uuid``) uses ``urn:ietf:rfc:3986``, as FHIR
says. The canonical URL of the diary Questionnaire is the same for every installation (it is the
software's form, not a clinic's record): :data:`DIARY_QUESTIONNAIRE`.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

#: The namespace of every UUID 5 below (unchanged since the first export: full URLs stay stable).
NAMESPACE = uuid.UUID("5b0f0e4e-3f7c-4a51-9d59-7d1f4b6c2a10")

#: ``Identifier.system`` when the value is itself an absolute URI (FHIR R4 Identifier.system).
URI_SYSTEM = "urn:ietf:rfc:3986"

#: The kinds of record an export names by identifier.
Kind = Literal["patient", "user", "evaluation", "session-event", "diary-entry", "referral-import", "site",
               "consent-signature"]

#: The pain diary Questionnaire's canonical URL and version (one form for every installation).
DIARY_QUESTIONNAIRE = f"urn:uuid:{uuid.uuid5(NAMESPACE, 'ketaclinic:questionnaire:pain-diary')}"
DIARY_QUESTIONNAIRE_VERSION = "1"


def full_url(kind: str, record_id: Any, installation: str) -> str:
    """A stable ``urn:uuid`` for one record of one installation (the same on every export)."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'ketaclinic:{installation}:{kind}:{record_id}')}"


def identifier_system(installation: str, kind: Kind) -> str:
    """The ``Identifier.system`` of one kind of record of one installation (a ``urn:uuid``)."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'ketaclinic-identifier-system:{installation}:{kind}')}"


def identifier(installation: str, kind: Kind, record_id: Any) -> dict[str, str]:
    """One record's identifier: ``{"system": identifier_system(...), "value": str(record_id)}``."""
    return {"system": identifier_system(installation, kind), "value": str(record_id)}
