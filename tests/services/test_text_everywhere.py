"""Issue 16 item 5: NUL bytes and lone surrogates (which PostgreSQL refuses, or cannot encode) are refused
with a named field by the session events and the user records too, from any caller (the CLI included)."""

import pytest
from pydantic import TypeAdapter, ValidationError

from ketaclinic.services import sessions as ss
from ketaclinic.services import users as us

EVENT = TypeAdapter(ss.EventIn)


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "note", "text": "{}"}, "text"),
    ({"kind": "medication", "drug": "{}", "dose": 4, "unit": "mg", "route": "iv", "lot_number": "L"}, "drug"),
    ({"kind": "rate_change", "rate_mg_per_h": 20, "reason": "{}"}, "reason"),
])
def test_session_events_refuse_text_a_database_cannot_store(bad, body, field):
    document = {k: (v.replace("{}", bad) if isinstance(v, str) else v) for k, v in body.items()}
    with pytest.raises(ValidationError) as err:
        EVENT.validate_python(document)
    assert field in str(err.value)


@pytest.mark.parametrize("bad", ["a\x00bcdefghijkl", "a\ud800bcdefghijkl"], ids=["nul", "lone-surrogate"])
def test_user_records_refuse_it_too(bad):
    with pytest.raises(ValidationError):
        us.UserCreate(username=bad[:10], role="nurse", password="a-long-enough-password")
    with pytest.raises(ValidationError):
        us.UserCreate(username="synthetic", role="nurse", password=bad + "-long-enough")


@pytest.mark.parametrize("bad", ["Synth\x00etic", "Synth\ud800etic"], ids=["nul", "lone-surrogate"])
def test_a_referral_with_text_a_database_cannot_store_is_refused_by_name(db, clinic, bad):
    """Through the service, so the web upload (multipart, no JSON middleware) and the CLI are covered too."""
    from ketaclinic.services import referrals
    from ketaclinic.services.errors import ValidationFailed

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "Patient", "name": [{"family": bad, "given": ["Ann"]}], "birthDate": "1970-01-01",
        "gender": "female"}}]}
    with pytest.raises(ValidationFailed) as err:
        referrals.import_referral(db, clinic.actors["coordinator"], bundle)
    assert err.value.field == "bundle" and "entry[0].resource.name[0].family" in err.value.message
