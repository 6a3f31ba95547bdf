"""Every demo patient's full record: a valid R4B Bundle with checked codes, and back unchanged.

The demo clinic (40 synthetic patients, the default) is seeded once by the real CLI; each chart is
exported, imported into an empty clinic, and exported again: the referral facts (demographics,
conditions, medications, observations) must come back the same. Every export, both ways, is also
judged by an independent R4 validator (``fhir-check``: Medplum's R4 StructureDefinitions, required
bindings, vital-signs profiles, references, code check digits, UCUM), which must find no error.
It lives beside the repository (``../shared/tools/fhir-check``, or ``FHIR_CHECK_DIR``) and needs
Node 18+ and npm: it is copied and installed once per run (``npm ci``).
"""

from __future__ import annotations

import json
import os
import shutil
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
pytestmark = pytest.mark.xdist_group("fhir_demo")  # one worker seeds the demo clinic once
FHIR_CHECK = Path(os.environ.get("FHIR_CHECK_DIR") or Path(__file__).resolve().parents[3] / "shared/tools/fhir-check")


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
    yield bundles, empty, receiver, tmp
    demo.dispose()
    empty.dispose()


def test_every_demo_patient_exports_to_a_valid_bundle_with_checked_codes(clinics):
    bundles, _, _, _ = clinics
    assert len(bundles) == 40
    kinds: set[str] = set()
    for pid, bundle in bundles.items():
        Bundle.model_validate(bundle)  # the exporter validated it too; this is what a receiver does
        assert unknown_codes(bundle) == set(), pid
        kinds |= {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"MedicationAdministration", "QuestionnaireResponse", "Provenance", "CarePlan", "Encounter",
            "MedicationStatement", "Condition", "AdverseEvent", "DetectedIssue"} <= kinds


@pytest.fixture(scope="module")
def round_trip(clinics):
    """Each demo chart imported into the empty clinic and exported from there: {pid: (import view, export)}."""
    bundles, empty, receiver, _ = clinics
    out = {}
    for pid, bundle in bundles.items():
        imported = rf.import_referral(empty, receiver, bundle, now=NOW)
        out[pid] = imported, export_patient(empty, receiver, imported.patient_id, now=NOW)
    return out


def test_every_demo_patient_comes_back_unchanged_from_an_empty_clinic(clinics, round_trip):
    bundles = clinics[0]
    for pid, bundle in bundles.items():
        imported, again = round_trip[pid]
        assert referral_facts(again) == referral_facts(bundle), pid
        ignored = {i["resource"] for i in imported.report["ignored"]}
        assert ignored <= {"Encounter", "Procedure", "MedicationAdministration", "CarePlan", "Questionnaire",
                           "QuestionnaireResponse", "Provenance", "Practitioner", "AdverseEvent",
                           "DetectedIssue", "Organization", "Location",  # the group and its sites (issue 17)
                           "Consent"}, ignored  # consent is signed for each clinic's own document (issue 13)


@pytest.fixture(scope="module")
def fhir_check(tmp_path_factory) -> Path:
    """The independent validator, copied out of its read-only folder and installed (``npm ci``)."""
    assert (FHIR_CHECK / "validate.mjs").exists(), f"the fhir-check validator is not at {FHIR_CHECK} (FHIR_CHECK_DIR)"
    copy = tmp_path_factory.mktemp("fhir-check") / "fhir-check"
    shutil.copytree(FHIR_CHECK, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    installed = subprocess.run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=copy,
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return copy


def _validate(checker: Path, files: list[Path]) -> list[dict]:
    result = subprocess.run(["node", "validate.mjs", "--json", "--quiet", *map(str, files)], cwd=checker,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 2: a file could not be read
    issues = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [i for i in issues if i.get("severity", i.get("level")) == "error"]


def test_the_validator_catches_its_planted_errors(fhir_check):
    """The check is not vacuous: its self-test bundle's 10 planted errors are all found."""
    assert len(_validate(fhir_check, [fhir_check / "selftest-broken.json"])) == 10


def test_every_export_has_no_structural_error_by_an_independent_r4_validator(clinics, round_trip, fhir_check):
    bundles, _, _, tmp = clinics
    files = []
    for pid, bundle in bundles.items():
        for name, document in ((f"export-{pid}.json", bundle), (f"again-{pid}.json", round_trip[pid][1])):
            files.append(tmp / name)
            files[-1].write_text(json.dumps(document))
    assert len(files) == 80
    errors = _validate(fhir_check, files)
    assert errors == [], errors[:10]
