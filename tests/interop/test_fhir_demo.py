"""Every demo patient's full record: a valid R4B Bundle with checked codes, and back unchanged.

The demo clinic (40 synthetic patients, the default) is seeded once by the real CLI; each chart is
exported, imported into an empty clinic, and exported again: the referral facts (demographics,
conditions, medications, observations) must come back the same.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from ketaclinic.records.db import Database
from ketaclinic.records.patients import Patient
from ketaclinic.records.users import User
from ketaclinic.services import referrals as rf
from ketaclinic.services.auth import actor_for
from ketaclinic.services.fhir import export_patient
from tests.interop.facts import referral_facts, unknown_codes
from tests.web.browser_support import env_for

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _migrated(url: str, tmp: Path, *args: str, stdin: str | None = None) -> None:
    ketaclinic = str(Path(sys.executable).parent / "ketaclinic")
    env = env_for(url, tmp)
    subprocess.run([ketaclinic, "migrate"], env=env, check=True, capture_output=True)
    if args:
        subprocess.run([ketaclinic, *args], env=env, check=True, capture_output=True, input=stdin, text=True)


@pytest.fixture(scope="module")
def clinics(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fhir-demo")
    demo_url, empty_url = f"sqlite:///{tmp / 'demo.db'}", f"sqlite:///{tmp / 'empty.db'}"
    _migrated(demo_url, tmp, "demo")
    _migrated(empty_url, tmp, "users", "create", "--username", "receiver", "--role", "physician",
              "--password-stdin",
              stdin="a long synthetic password\n")
    demo, empty = Database(demo_url), Database(empty_url)
    with demo.reading() as session:
        physician = actor_for(session.execute(select(User).where(User.username == "physician")).scalar_one(), "test")
        patient_ids = list(session.execute(select(Patient.id).order_by(Patient.id)).scalars())
    with empty.reading() as session:
        receiver = actor_for(session.execute(select(User).where(User.username == "receiver")).scalar_one(), "test")
    bundles = {pid: export_patient(demo, physician, pid, now=NOW) for pid in patient_ids}
    yield bundles, empty, receiver
    demo.dispose()
    empty.dispose()


def test_every_demo_patient_exports_to_a_valid_bundle_with_checked_codes(clinics):
    bundles, _, _ = clinics
    assert len(bundles) == 40
    kinds: set[str] = set()
    for pid, bundle in bundles.items():
        Bundle.model_validate(bundle)  # the exporter validated it too; this is what a receiver does
        assert unknown_codes(bundle) == set(), pid
        kinds |= {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"MedicationAdministration", "QuestionnaireResponse", "Provenance", "CarePlan", "Encounter",
            "MedicationStatement", "Condition"} <= kinds


def test_every_demo_patient_comes_back_unchanged_from_an_empty_clinic(clinics):
    bundles, empty, receiver = clinics
    for pid, bundle in bundles.items():
        imported = rf.import_referral(empty, receiver, bundle, now=NOW)
        again = export_patient(empty, receiver, imported.patient_id, now=NOW)
        assert referral_facts(again) == referral_facts(bundle), pid
        ignored = {i["resource"] for i in imported.report["ignored"]}
        assert ignored <= {"Encounter", "Procedure", "MedicationAdministration", "CarePlan", "Questionnaire",
                           "QuestionnaireResponse", "Provenance", "Practitioner"}, ignored
