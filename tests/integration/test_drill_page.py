"""``tabmon drill-report --html`` on the 2007 drill replayed through a real broker and worker:
the page comes from Redis, findings included once the hash has any. The replay itself is
tests/integration/test_drill.py's, which calls :func:`check_the_drill_page`."""

from __future__ import annotations

import re
import subprocess
import sys

import orjson
import pytest

from monitor.adapters.readmodel import read_station
from monitor.alerting import findings_key
from monitor.contract import build as build_registry
from monitor.detect.findings import to_record
from monitor.detect.station import detect_station

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _drill_report_html(settings, out) -> subprocess.CompletedProcess[str]:
    env = {"TABMON_REDIS_URL": settings.redis_url, "TABMON_APP_ID": settings.app_id, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "drill-report", "--html", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def check_the_drill_page(settings, client, night, out) -> None:
    """After the drill is replayed into ``settings`` (tests/integration/test_drill.py runs
    this on its replay, so that CI replays the drill once): the page comes from Redis."""
    before = client.hlen(findings_key(settings.app_id))  # the worker's detectors may still be adding
    run = _drill_report_html(settings, out)
    after = client.hlen(findings_key(settings.app_id))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    m = re.search(r"122 of 122 published figures match, ([\d,]+) findings", run.stdout)
    assert m and before <= int(m.group(1).replace(",", "")) <= after, run.stdout
    html = (out / "index.html").read_text()
    assert html.count("<tr data-finding=") == int(m.group(1).replace(",", ""))
    assert html.count('data-plot="turnout"') == html.count('data-plot="scatter"') == 16
    assert 'data-view="pec" data-stations="9727"' in html
    assert 'data-view="official" data-stations="9727"' in html
    assert len(re.findall(r'<tr data-station="', html)) == 42 + 4207
    assert html.count('<td class="yes">✓ yes</td>') == 122
    assert not re.search(r"https?:", html)

    # a finding record in the hash, as the emitter writes it: the page lists it
    reg = build_registry(night.registry)
    doc = read_station(client, settings.app_id, "MAN-75")
    finding = next(
        f
        for f in detect_station("MAN-75", reg.stations["MAN-75"].tec_id, doc, reg.parties)
        if f.kind == "protocol_altered"
    )
    record = to_record(finding, "2007-08-19T02:10:00+00:00", "2007-08-28T09:00:00+00:00")
    client.hset(findings_key(settings.app_id), finding.finding_id, orjson.dumps(record))
    run = _drill_report_html(settings, out)
    assert run.returncode == 0, run.stderr
    html = (out / "index.html").read_text()
    assert f'data-finding="{finding.finding_id}"' in html and record["explanation"] in html
    assert "Nur Otan +1,103 votes" in record["explanation"]  # Annex 3: MAN-75, Nur Otan +1,103


def test_a_bad_output_path_is_one_line(settings, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    run = _drill_report_html(settings, taken / "page")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("tabmon: error: --html ")
    assert taken.read_text() == "not a directory"


def test_no_tally_in_redis_is_one_line_and_no_page(settings, tmp_path):
    run = _drill_report_html(settings, tmp_path / "page")
    assert run.returncode == 2 and "no tally in" in run.stderr and run.stderr.count("\n") == 1
    assert not (tmp_path / "page").exists()
