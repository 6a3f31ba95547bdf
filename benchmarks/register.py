"""The register (issue 14): its pages and balances with two years of entries for a 12-chair clinic.

Targets (issue 14): the register overview page, the running log, a count sheet and
``GET /api/v1/register/balances`` p95 < 150 ms. On SQLite: the demo clinic, then two years of history added
in bulk for 12 chairs × 2 infusions a working day (about 12,000 sessions: draw, derived administration,
witnessed waste) with a new 20-vial lot whenever the last runs low and a two-person count of the safe every
working day, with every running balance computed by the register's own rule. Writes
``benchmarks/results/register.json``; ``main()`` returns the same document.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
RESULT = HERE / "results" / "register.json"
TARGET_MS = 150.0
DAYS, CHAIRS, PER_CHAIR = 2 * 250, 12, 2


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 1), "p95_ms": round(_p95(samples), 1)}


def _history(db) -> int:
    """Two years of sessions and register lines, inserted in bulk (balances from clinical/register.py)."""
    from sqlalchemy import insert, select

    from ketaclinic.clinical import register as core
    from ketaclinic.records.register import RegisterEntry, RegisterLocation, RegisterLot, RegisterProduct
    from ketaclinic.records.sessions import InfusionSession
    from ketaclinic.records.users import User

    with db.transaction() as uow:
        model = uow.execute(select(InfusionSession).where(InfusionSession.state == "discharged")).scalars().first()
        safe = uow.execute(select(RegisterLocation).where(RegisterLocation.name == "Safe")).scalars().first()
        product = uow.execute(select(RegisterProduct).where(RegisterProduct.drug == "ketamine",
                                                            RegisterProduct.strength_mg_per_ml == 50)).scalar_one()
        users = {u.username: u.id for u in uow.execute(select(User)).scalars()}
        start = datetime.now(UTC) - timedelta(days=760)
        ledger = core.Ledger()
        next_id = (uow.execute(select(RegisterEntry.id).order_by(RegisterEntry.id.desc())).scalars().first() or 0) + 1
        rows: list[dict] = []
        lot_id, serial = None, 0

        def line(kind: str, amount: float, at: datetime, **extra) -> None:
            nonlocal next_id
            entry = core.Line(id=next_id, kind=kind, lot_id=lot_id, amount_mg=amount, recorded_by=users["nurse"],
                              **{k: v for k, v in extra.items() if k in ("location_id", "session_id", "witness_id")},
                              details=extra.get("details", {}))
            ledger.apply(entry)
            total, location = core.stored_balances(ledger, entry)
            rows.append({"id": next_id, "site_id": safe.site_id, "kind": kind, "product_id": product.id, "lot_id": lot_id,
                         "location_id": extra.get("location_id"), "session_id": extra.get("session_id"),
                         "amount_mg": amount, "vials": 1, "balance_after_mg": total, "location_balance_after_mg": location,
                         "recorded_at": at, "recorded_by": users["nurse"], "witness_id": extra.get("witness_id"),
                         "details": extra.get("details", {}), "created_at": at, "to_location_id": None,
                         "corrects_id": None, "resolves_id": None, "reason": None})
            next_id += 1

        sessions = 0
        for day in range(DAYS):
            when = start + timedelta(days=day * 7 // 5)
            for chair in range(CHAIRS * PER_CHAIR):
                at = when.replace(hour=8) + timedelta(minutes=20 * chair)
                if lot_id is None or ledger.location_mg(lot_id, safe.id) < 300:
                    serial += 1
                    lot_id = uow.execute(insert(RegisterLot).values(
                        site_id=safe.site_id, product_id=product.id, lot_number=f"SYN-BENCH-{serial:04d}",
                        expiry_date=(at + timedelta(days=500)).date(), created_at=at).returning(RegisterLot.id)).scalar_one()
                    line("receipt", 10_000.0, at - timedelta(hours=1), location_id=safe.id,
                         details={"supplier": "Synthetic", "supplier_dea_number": "RS4829133", "invoice": f"B{serial}"})
                session_id = uow.execute(insert(InfusionSession).values(
                    patient_id=model.patient_id, plan_id=model.plan_id, site_id=model.site_id, scheduled_at=at,
                    state="discharged", checklist={}, pump_program=model.pump_program, started_at=at,
                    ended_at=at + timedelta(hours=2), discharged_at=at + timedelta(hours=3), version=1,
                    created_at=at).returning(InfusionSession.id)).scalar_one()
                sessions += 1
                line("dispense", 250.0, at, location_id=safe.id, session_id=session_id)
                line("administer", 212.4, at + timedelta(hours=2), session_id=session_id)
                line("waste", 37.6, at + timedelta(hours=2, minutes=5), session_id=session_id,
                     witness_id=users["physician"])
            balance = ledger.location_mg(lot_id, safe.id)
            line("count", balance, when.replace(hour=19), location_id=safe.id, witness_id=users["physician"],
                 details={"expected_mg": balance, "counted_mg": balance, "discrepancy_mg": 0.0})
        for chunk in range(0, len(rows), 5000):
            uow.execute(insert(RegisterEntry), rows[chunk:chunk + 5000])
    return len(rows)


def main() -> dict:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from ketaclinic.api.app import create_app
    from ketaclinic.records.db import Database
    from ketaclinic.records.register import RegisterLocation
    from ketaclinic.services.auth import authenticate, issue_token
    from ketaclinic.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="kc-bench-register-"))
    env = {**os.environ, "KETACLINIC_SECRET_KEY": "s" * 48, "KETACLINIC_SECRET_KEY_FILE": str(tmp / "secret"),
           "KETACLINIC_DEMO_PASSWORD": "demo-clinic", "KETACLINIC_ENV": "test"}
    url = f"sqlite:///{tmp / 'demo.db'}"
    ketaclinic = str(Path(sys.executable).parent / "ketaclinic")
    subprocess.run([ketaclinic, "migrate"], env={**env, "DATABASE_URL": url}, check=True, capture_output=True)
    subprocess.run([ketaclinic, "demo"], env={**env, "DATABASE_URL": url}, check=True, capture_output=True)
    db = Database(url)
    entries = _history(db)
    with db.reading() as uow:
        safe = uow.execute(select(RegisterLocation.id).where(RegisterLocation.name == "Safe")).scalars().first()
    settings = Settings(env="test", database_url=url, secret_key="s" * 48, secret_key_file=tmp / "secret",
                        login_rate_limit=1000)
    app = create_app(settings, db=db)
    samples: dict[str, list[float]] = {"register page": [], "running log page": [], "count sheet page": [],
                                       "GET /api/v1/register/balances": []}
    with TestClient(app, base_url="http://testserver") as client:
        page = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "nurse", "password": "demo-clinic", "csrf_token": csrf})
        nurse = authenticate(db, settings, username="nurse", password="demo-clinic", ip="127.0.0.1")
        token, _ = issue_token(db, nurse, now=datetime.now(UTC), lifetime_s=3600)
        addresses = {"register page": "/register", "running log page": "/register/log",
                     "count sheet page": f"/register/locations/{safe}/count",
                     "GET /api/v1/register/balances": "/api/v1/register/balances"}
        for name, address in addresses.items():
            headers = {"Authorization": f"Bearer {token}"} if address.startswith("/api") else {}
            assert client.get(address, headers=headers).status_code == 200, address
            for _ in range(30):
                began = time.perf_counter()
                response = client.get(address, headers=headers)
                samples[name].append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200
    db.dispose()
    measured = {name: _summary(values) for name, values in samples.items()}
    result = {
        "what": f"issue 14 register: {entries:,} entries (two years, 12 chairs × 2 infusions a working day, daily "
                "counts) on SQLite over the demo clinic; pages over HTTP in-process signed in as the nurse",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **measured,
        "targets_met": {f"{name} p95 < {TARGET_MS:.0f} ms": m["p95_ms"] < TARGET_MS for name, m in measured.items()},
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
