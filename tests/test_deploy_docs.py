"""docs/deploy.md's examples parse and name only settings that exist (issue 17, "many machines")."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from ketaclinic.settings import Settings

DOC = (Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text()


def _block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)
    assert len(blocks) == 1, f"one {language} example"
    return blocks[0]


def test_the_systemd_unit_parses_and_serves_with_the_cli():
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(_block("ini"))
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    start = unit["Service"]["ExecStart"].split()
    assert start[0].endswith("/ketaclinic") and start[1] == "serve" and "--workers" in start
    assert unit["Service"]["EnvironmentFile"].startswith("/etc/") and unit["Install"]["WantedBy"]


def test_the_nginx_example_is_balanced_and_spreads_over_two_workers():
    config = "\n".join(line.split("#", 1)[0] for line in _block("nginx").splitlines())
    depth = 0
    for char in config:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "a } closes nothing"
    assert depth == 0, "every { is closed"
    for line in filter(None, (line.strip() for line in config.splitlines())):
        assert line.endswith((";", "{", "}")), f"an nginx directive ends with ';': {line}"
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", config, flags=re.S)
    assert upstream and len(re.findall(r"^\s*server \S+:\d+", upstream.group(2), flags=re.M)) >= 2
    assert f"proxy_pass http://{upstream.group(1)};" in config
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in config and "X-Forwarded-Proto $scheme" in config


def test_every_setting_the_guide_names_exists():
    named = set(re.findall(r"\bKETACLINIC_([A-Z_]+)\b", DOC))
    known = {name.upper() for name in Settings.model_fields}
    assert named and named <= known, named - known
