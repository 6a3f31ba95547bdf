"""Every web page declares who may open it, like every API route: a new page without a rule fails.

A page either depends on ``need(*roles)`` (sign-in required, other roles get a 403 page) or is on
the short public list below. The services behind the pages check roles again.
"""

from __future__ import annotations

from fastapi.routing import APIRoute

from ketaclinic.api.app import create_app, iter_api_routes

PUBLIC_PAGES = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/session/keepalive"),
    ("GET", "/request-consultation"),
    ("POST", "/request-consultation"),
    # issue 12: one-time links (a portal invitation, a password reset); the link's secret is the credential
    ("GET", "/account/{which}/{token}"),
    ("POST", "/account/{which}/{token}"),
}


def _declared_roles(route: APIRoute) -> frozenset[str] | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        roles = getattr(dependant.call, "allowed_roles", None)
        if roles is not None:
            return roles
        stack.extend(dependant.dependencies)
    return None


def _pages(settings, db):
    app = create_app(settings, db=db)
    for path, route in iter_api_routes(app.routes):
        if path.startswith("/api/v1") or path == "/healthz":
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            yield method, path, route


def test_every_page_declares_its_roles_or_is_public(settings, db):
    undeclared = []
    public_seen = set()
    for method, path, route in _pages(settings, db):
        if (method, path) in PUBLIC_PAGES:
            public_seen.add((method, path))
            continue
        roles = _declared_roles(route)
        if not roles:
            undeclared.append(f"{method} {path}")
    assert undeclared == [], "pages without need(...) and not on the public list"
    assert public_seen == PUBLIC_PAGES, "the public list names pages that do not exist"


def test_coordinator_and_patient_cannot_open_clinical_pages(settings, db):
    """No page that writes clinical records is open to coordinators, patients or the admin."""
    clinical_writers = {"physician", "nurse"}
    for method, path, route in _pages(settings, db):
        roles = _declared_roles(route)
        if roles is None or method != "POST":
            continue
        if any(part in path for part in ("/evaluations", "/plans", "/sessions/{session_id}/")):
            assert roles <= clinical_writers, f"{method} {path} allows {sorted(roles)}"
