"""Every source id the code refers to exists, and every source is a complete citation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ketaclinic
from ketaclinic.clinical.rules import rule_catalog
from ketaclinic.evidence.sources import UnknownSourceError, all_sources, get_source, ref
from ketaclinic.pharmacology.models import MODELS
from ketaclinic.pharmacology.targets import BANDS

SRC = Path(ketaclinic.__file__).parent
#: The pure core is where evidence is cited; elsewhere "source" means other things (where a weight came from).
CORE = ("evidence", "pharmacology", "clinical")
REF_CALL = re.compile(r"""ref\(\s*["']([A-Za-z0-9_\-]+)["']\s*\)""")
SOURCE_KW = re.compile(r"""\bsources?(?:_id)?\s*=\s*["']([A-Za-z0-9_\-]+)["']""")


def test_every_source_is_a_complete_citation():
    sources = all_sources()
    assert len(sources) > 30
    for source in sources.values():
        assert source.id and source.title and source.journal and source.authors, source.id
        assert source.checked in {"source_text", "abstract", "secondary", "code", "unverified", "not_applicable"}
        assert source.citation().endswith(".")
        if source.kind in {"trial", "study", "pk_model", "review"}:
            assert source.doi or source.pmid or source.url or source.checked == "unverified", source.id


def test_every_literal_source_id_in_the_code_resolves():
    known = set(all_sources())
    cited: dict[str, str] = {}
    for path in (p for package in CORE for p in (SRC / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern in (REF_CALL, SOURCE_KW):
            for source_id in pattern.findall(text):
                cited.setdefault(source_id, str(path.relative_to(SRC)))
    missing = {s: where for s, where in cited.items() if s not in known and s != "custom"}
    assert not missing, f"source ids cited but not registered: {missing}"
    assert len(cited) > 20


def test_every_rule_model_and_band_points_to_a_registered_source():
    for rule in rule_catalog():
        get_source(rule.source)
    for model in MODELS.values():
        get_source(model.source)
    for band in BANDS:
        for s in band.sources:
            get_source(s)


def test_unknown_id_fails_loudly():
    with pytest.raises(UnknownSourceError, match="no_such_paper"):
        ref("no_such_paper")
