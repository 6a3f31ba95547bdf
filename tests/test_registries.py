"""The explicit lists that replaced run-time module discovery leave nothing out.

Commands, evidence catalogues and clinical rules are gathered by explicit imports (so the import
graph is visible); these tests fail when a new module is added but not listed.
"""

import ast
import pkgutil
from pathlib import Path

import ketaclinic.cli as cli
from ketaclinic.clinical.rules import rule_catalog
from ketaclinic.evidence import catalog
from ketaclinic.evidence.sources import all_sources

SRC = Path(__file__).resolve().parents[1] / "src" / "ketaclinic"


def _defines(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body) or any(
        isinstance(n, ast.Assign | ast.AnnAssign) and name in [getattr(t, "id", None) for t in
                                                          (n.targets if isinstance(n, ast.Assign) else [n.target])]
        for n in tree.body)


def test_every_command_family_is_registered() -> None:
    families = [m.name for m in pkgutil.iter_modules(cli.__path__) if _defines(SRC / "cli" / f"{m.name}.py", "register")
                or "@report_app.command" in (SRC / "cli" / f"{m.name}.py").read_text()]
    registered = {c.callback.__module__.rsplit(".", 1)[-1] for c in cli.app.registered_commands} | {
        g.typer_instance.registered_callback.callback.__module__.rsplit(".", 1)[-1]
        for g in cli.app.registered_groups if g.typer_instance.registered_callback}
    registered |= {c.callback.__module__.rsplit(".", 1)[-1] for g in cli.app.registered_groups
                   for c in g.typer_instance.registered_commands}
    registered |= {g.name for g in cli.app.registered_groups}  # a family that adds a sub-command group
    assert set(families) <= registered, set(families) - registered


def test_every_catalogue_module_is_read() -> None:
    for info in pkgutil.iter_modules(catalog.__path__):
        module = __import__(f"{catalog.__name__}.{info.name}", fromlist=["SOURCES"])
        assert all(all_sources()[s.id] is s for s in module.SOURCES), info.name


def test_every_clinical_rule_module_is_in_the_catalogue() -> None:
    catalogued = {id(rule) for rule in rule_catalog()}
    for path in sorted((SRC / "clinical").glob("*.py")):
        if _defines(path, "RULES"):
            module = __import__(f"ketaclinic.clinical.{path.stem}", fromlist=["RULES"])
            assert all(id(rule) in catalogued for rule in module.RULES), path.stem
