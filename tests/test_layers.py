"""The import rules of design.md sections 1 and 2, checked on the source of every module.

The way is one-directional: the edges (web, api, cli) call services; services own every
transaction, role check, audit entry and query, and call the pure builders (reports, interop) and
the pure core (evidence, pharmacology, clinical). A builder or the core that imported the database
or a service would be a second service layer again, so each layer lists what it may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ketaclinic"

CORE = {"evidence", "pharmacology", "clinical", "__init__"}
#: Small shared modules with no I/O that any layer may use.
PURE_HELPERS = {"jsonable", "charts", "timefmt"}
EDGES = {"api", "web", "cli"}

#: layer → the ketaclinic layers it may import (itself included).
MAY_IMPORT: dict[str, set[str]] = {
    "evidence": {"evidence", "__init__"},
    "pharmacology": CORE,
    "clinical": CORE,
    "reports": CORE | PURE_HELPERS | {"reports"},
    "interop": CORE | PURE_HELPERS | {"interop"},
    "records": {"records", "clock", "settings", "__init__"},
    "services": CORE | PURE_HELPERS | {"services", "records", "reports", "interop", "clock", "settings", "demo"},
    # api/app.py is the composition root: it mounts the web pages on the same application
    "api": CORE | PURE_HELPERS | {"api", "web", "services", "records.db", "clock", "settings", "http"},
    "web": CORE | PURE_HELPERS | {"web", "services", "records.db", "clock", "settings", "http"},
    "cli": CORE | PURE_HELPERS | {"cli", "services", "records", "clock", "settings", "demo"},
}

#: Third-party packages that mean I/O (a database, HTTP, a terminal, files of PDF): never in the core
#: or in the pure builders (reports may use Jinja2 and WeasyPrint to turn a snapshot into bytes).
IO_PACKAGES = {"sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "typer", "rich", "httpx", "uvicorn"}
PURE_LAYERS = {"evidence", "pharmacology", "clinical", "reports", "interop"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts)


def _layer(module: str) -> str:
    return module.split(".")[0]


def _is_module(name: str) -> bool:
    return (SRC / f"{name}.py").exists() or (SRC / name).is_dir()


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names), with the line, including imports inside functions."""
    out = []
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(["ketaclinic", *base, *(node.module or "").split(".")]).rstrip(".")
            else:
                name = node.module or ""
            if name == "ketaclinic":  # a module of the package, or a name from its __init__
                out += [(node.lineno, f"ketaclinic.{alias.name}" if _is_module(alias.name) else "ketaclinic")
                        for alias in node.names]
            else:
                out.append((node.lineno, name))
    return out


def _allowed(layer: str, target: str) -> bool:
    rules = MAY_IMPORT[layer]
    return _layer(target) in rules or any(target == rule or target.startswith(rule + ".") for rule in rules)


def _violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        layer = _layer(module)
        if layer.endswith("__init__"):
            layer = "__init__"
        if layer not in MAY_IMPORT:
            continue
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top == "ketaclinic":
                target = name.removeprefix("ketaclinic").lstrip(".") or "__init__"
                if not _allowed(layer, target):
                    found.append(f"{path.relative_to(SRC)}:{line}: {layer} may not import ketaclinic.{target}")
            elif layer in PURE_LAYERS and top in IO_PACKAGES:
                found.append(f"{path.relative_to(SRC)}:{line}: {layer} is pure and may not import {name}")
            elif layer in EDGES and top in {"sqlalchemy", "alembic", "psycopg"}:
                found.append(f"{path.relative_to(SRC)}:{line}: {layer} calls services and may not query ({name})")
    return found


def test_every_layer_imports_only_what_design_md_allows() -> None:
    assert _violations() == []


@pytest.mark.parametrize(("layer", "target", "allowed"), [
    ("clinical", "records.patients", False), ("reports", "services.common", False),
    ("interop", "records.db", False), ("web", "records.patients", False), ("web", "records.db", True),
    ("services", "interop.fhir", True), ("pharmacology", "clinical.dosing", True), ("evidence", "clinical", False),
])
def test_the_rules_themselves(layer: str, target: str, allowed: bool) -> None:
    """The checker would catch a forbidden import (so the test above cannot pass vacuously)."""
    assert _allowed(layer, target) is allowed
