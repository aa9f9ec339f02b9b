"""docs/detectors.md says what the code does: every kind, every threshold and its default."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from monitor.detect import Thresholds

DOC = Path(__file__).resolve().parents[2] / "docs" / "detectors.md"
KINDS = (
    "protocol_altered",
    "summary_mismatch",
    "turnout_jump",
    "turnout_implausible",
    "list_additions",
    "arithmetic_inconsistent",
    "unanimous_result",
    "evote_multiple",
    "turnout_revised",
    "valid_exceeds_turnout",
    "late_protocol",
)  # the contract's kinds (CONTRACT.md, alerts)


def test_every_contract_kind_has_its_section():
    headings = re.findall(r"^### `([a-z_]+)`$", DOC.read_text(), flags=re.M)
    assert sorted(headings) == sorted(KINDS)


def test_every_section_says_rule_report_evidence_and_false_positives():
    for section in re.split(r"^### ", DOC.read_text(), flags=re.M)[1:]:
        # turnout_jump and list_additions give a rule per check instead of one
        assert "**Rule.**" in section or "check: " in section, section[:30]
        for part in ("**Report.**", "**Evidence.**", "**False positives.**"):
            assert part in section, (section[:30], part)


def test_the_thresholds_table_matches_the_code():
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", DOC.read_text(), flags=re.M))
    defaults = Thresholds()
    for f in fields(Thresholds):
        assert f.name in rows, f"{f.name} is not documented"
        assert rows[f.name].strip() == str(getattr(defaults, f.name)), f.name
    assert set(rows) == {f.name for f in fields(Thresholds)}
