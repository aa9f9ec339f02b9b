"""load/scale.py, small: a generated night through two real workers, checked against the
generator's own sums, and a check that finds a unit whose tally differs from them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from conftest_helpers import load_script

scale = load_script("scale")

pytestmark = pytest.mark.slow


def test_a_small_night_through_two_workers_is_exact_and_a_changed_sum_is_found(tmp_path: Path) -> None:
    path, gen = scale.night_file(tmp_path / "nights", 300, 7, tmp_path / "generate.log")
    assert gen is not None and gen.returncode == 0 and gen.peak_mib > 0
    again, cached = scale.night_file(tmp_path / "nights", 300, 7, tmp_path / "generate.log")
    assert again == path and cached is None  # generated once, then kept
    events, sums = scale.generator_sums(path)
    assert events > 300 and len([u for u, s in sums.items() if s["level"] == "tec"]) == 7

    row = scale.measure(path, events, sums, workers=2, live=False, workdir=tmp_path / "run", timeout=300)
    assert row["exact"], row["diffs"]
    assert row["events_per_s"] > 0 and len(row["worker_peak_mib"]) == 2
    assert all(m > 50 for m in row["worker_peak_mib"]) and row["replay_peak_mib"] > 0

    # the check itself: a unit whose generator sum differs is named, in both views
    units = {
        uid: {
            view: {**s["figures"], "stations_reported": s["stations_included"]}
            for view in ("protocol", "official")
        }
        for uid, s in sums.items()
    }
    assert scale.differences(units, sums) == []
    tec = next(u for u, s in sums.items() if s["level"] == "tec")
    changed = copy.deepcopy(sums)
    changed[tec]["figures"]["invalid"] += 1
    party = next(iter(changed["KZ"]["figures"]["votes"]))
    changed["KZ"]["figures"]["votes"][party] -= 1
    found = scale.differences(units, changed)
    assert len(found) == 4 and all(d.startswith((f"{tec} ", "KZ ")) for d in found), found
    del units[tec]
    assert f"{tec}: missing from the snapshot" in scale.differences(units, sums)
