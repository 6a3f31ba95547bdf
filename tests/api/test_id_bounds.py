"""Every record id the API accepts is bounded to what the databases hold (PostgreSQL INTEGER).

The OpenAPI fuzzing found, one route at a time, bodies whose ids past 2**31 - 1 reached PostgreSQL and
came back as a 500 (``integer out of range``): a user's patient_id, then an invoice's plan_id. This
module checks the published document as a whole, so an id field added without the bound fails here
before the fuzzing happens to draw it, and calls the invoice route that CI caught on both engines.
"""

from __future__ import annotations

import pytest

from ketaclinic.api.app import create_app
from ketaclinic.services.types import ID_MAX
from ketaclinic.settings import Settings


def _document() -> dict:
    offline = Settings(env="test", database_url="sqlite://", secret_key="collection-only-secret-key-0123456789abcdef")
    return create_app(offline).openapi()


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith(("_id", "_ids", "version"))


def _unbounded_ids(document: dict) -> list[str]:
    """Each integer id (parameter, header or body property, at any depth) with no maximum within ID_MAX."""
    components = document["components"]["schemas"]
    found: list[str] = []

    def walk(name: str, schema: dict, where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            ref = schema["$ref"].rsplit("/", 1)[-1]
            if ref not in seen:
                walk(name, components[ref], where, seen | {ref})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in schema.get(key, []):
                walk(name, branch, where, seen)
        if schema.get("type") == "integer" and _is_id(name):
            maximum = min(schema.get("maximum", float("inf")), schema.get("exclusiveMaximum", float("inf")) - 1)
            if maximum > ID_MAX:
                found.append(f"{where}: {name}")
        if "items" in schema:
            walk(name, schema["items"], where, seen)
        for child, child_schema in schema.get("properties", {}).items():
            walk(child, child_schema, where, seen)

    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                walk(parameter["name"].lower().replace("-", "_"), parameter.get("schema", {}), where, frozenset())
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk("body", content.get("schema", {}), where, frozenset())
    return found


def test_every_id_the_api_accepts_is_bounded_to_a_postgresql_integer():
    document = _document()
    assert _unbounded_ids(document) == []
    # the walk does find ids (it would pass vacuously on a document it cannot read)
    document["components"]["schemas"]["InvoiceIn"]["properties"]["plan_id"]["anyOf"][0].pop("maximum")
    assert _unbounded_ids(document) == ["POST /api/v1/invoices: plan_id"]


@pytest.mark.parametrize("field", ["session_id", "plan_id", "evaluation_id"])
def test_an_invoice_for_an_id_past_32_bits_is_a_422_naming_the_field(client, headers, field):
    """CI's fuzzing on PostgreSQL: ``{"kind": "course", "plan_id": 2147483648}`` was a 500 (integer out of range)."""
    kind = {"session_id": "session", "plan_id": "course", "evaluation_id": "evaluation"}[field]
    made = client.post("/api/v1/invoices", headers=headers["coordinator"], json={"kind": kind, field: ID_MAX + 1})
    assert made.status_code == 422, made.text
    assert made.json()["error"]["field"] == field
