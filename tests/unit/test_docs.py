"""The docs name every setting the code has, and no setting it does not."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_matches_settings():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`(TABMON_[A-Z_]+)`", doc))
    actual = {f"TABMON_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert documented == actual


def test_configuration_doc_defaults_match_code():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    defaults = Settings()
    for name in Settings.__dataclass_fields__:
        m = re.search(rf"\| `TABMON_{name.upper()}` \| ([^|]*) \|", doc)
        assert m, name
        value = getattr(defaults, name)
        cell = m.group(1).strip().strip("`")
        if value == "":
            assert cell == "(empty)", name
        else:
            assert cell == str(value), f"{name}: doc says {cell!r}, code {value!r}"
