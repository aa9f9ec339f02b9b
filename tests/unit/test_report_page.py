"""The drill page (``tabmon drill-report --html``), rendered from the 2007 drill in memory.

Each check reads the page the way a person or a browser would (parsed HTML, the SVG as XML)
and compares it with figures taken elsewhere: the tally's snapshot, the published annexes in
/work/shared/kz2007, the report's own figures in ``producers.elections.kz2007.night.expected()``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.cli.drill_report import output_dir, write_page
from monitor.cli.main import main
from monitor.contract import REC_CODES
from monitor.detect.findings import to_record
from monitor.detect.station import detect_station
from monitor.detect.units import unit_findings
from monitor.drill.report import drill_data
from monitor.drill.report.page import render
from monitor.errors import ConfigError
from monitor.testing import InMemoryTally
from producers.elections.kz2007.night import build, expected

# shared/ beside the checkout (CI), or the machine's copy
ANNEX = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared" / "kz2007" / "annex_protocols.json",
            Path("/work/shared/kz2007/annex_protocols.json"),
        )
        if p.exists()
    ),
    None,
)
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class Page(HTMLParser):
    """The parsed page: every element (tag, attributes, text inside), the tables by id, and
    the nesting checked as it goes."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table" and "id" in a:
            self._table = self.tables.setdefault(a["id"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def body_rows(self, table_id: str) -> list[list[str]]:
        return self.tables[table_id][1:]


def _number(cell: str) -> int:
    return int(cell.replace(",", "").replace("+", ""))


@pytest.fixture(scope="module")
def night():
    return build(seed=2007)


def _tally(night, events) -> InMemoryTally:
    tally = InMemoryTally(night.registry, partitions=8)
    tally.feed_events(events, flush_every=25_000)
    assert tally.rejected == []
    return tally


@pytest.fixture(scope="module")
def tally(night) -> InMemoryTally:
    return _tally(night, night.events)


def _findings(tally: InMemoryTally) -> list[dict]:
    """What the station and unit detectors say about the night, as contract records."""
    reg = tally.registry
    found = [
        f
        for sid, doc in tally.stations.items()
        for f in detect_station(sid, reg.stations[sid].tec_id, doc, reg.parties)
    ]
    found += unit_findings(tally.snapshot())
    return [to_record(f, "2007-08-19T02:00:00+00:00", "2007-08-28T10:00:00+00:00") for f in found]


@pytest.fixture(scope="module")
def html(tally) -> str:
    return render(drill_data(tally.snapshot(), tally.stations, tally.registry, []))


@pytest.fixture(scope="module")
def page(html) -> Page:
    return Page(html)


def _svgs(page: Page, plot: str) -> list[dict[str, str]]:
    return [a for t, a in page.elements if t == "svg" and a.get("data-plot") == plot]


def _svg_sources(html: str, plot: str) -> list[str]:
    return re.findall(rf'<svg [^>]*data-plot="{plot}".*?</svg>', html, re.S)


def test_the_page_is_well_formed_html_and_every_plot_is_well_formed_xml(html, page):
    assert html.startswith("<!DOCTYPE html>")
    assert page.errors == [] and page.stack == []
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 16 + 2 + 16 + 2  # turnout panels, fingerprints, region scatters, moves
    for s in svgs:
        ET.fromstring(s)  # raises on anything a strict XML parser rejects


def test_the_page_loads_nothing_from_anywhere(html, page):
    assert not re.search(r"https?:|ftp:|//[a-z]", html, re.I)
    tags = Counter(t for t, _ in page.elements)
    assert tags["script"] == tags["link"] == tags["img"] == tags["iframe"] == tags["object"] == 0
    assert "@import" not in html and "url(" not in html
    for _, a in page.elements:
        for attr in ("src", "href", "xlink:href", "action"):
            assert a.get(attr, "#").startswith("#"), a


def test_turnout_through_the_day_has_every_report_of_every_region(tally, html):
    units = tally.snapshot()
    recs = [r for r in REC_CODES if r in units]
    panels = {re.search(r'data-region="(\w+)"', s).group(1): s for s in _svg_sources(html, "turnout")}
    assert sorted(panels) == sorted(recs) and len(recs) == 16
    for rid in recs:
        reports = units[rid]["turnout"]["by_report"]
        shown = re.findall(
            rf"<title>{rid} \d\d:\d\d: ([\d.]+) % \(([\d,]+) of ([\d,]+) registered", panels[rid]
        )
        assert len(shown) == len(reports) == 6
        for (pct, voted, registered), seq in zip(shown, sorted(reports, key=int), strict=True):
            r = reports[seq]
            assert (_number(voted), _number(registered)) == (r["voted"], r["registered"])
            assert float(pct) == round(100 * r["voted"] / r["registered"], 2)
    # the four revisions of the night, in the report's percentage points (report XIV fn 91)
    revised = {
        e["id"].split(".")[1]: e["value"]
        for e in expected()
        if e["id"].startswith("revision.") and e["id"] != "revision.unchanged_recs"
    }
    for rid, panel in panels.items():
        labels = re.findall(r'class="revised"[^>]*>([+-][\d.]+)<', panel)
        assert labels == ([f"{revised[rid]:+.1f}"] if rid in revised else []), rid


def test_the_fingerprint_places_every_station_in_both_views(tally, html, page):
    reg = tally.registry
    for view in ("pec", "official"):
        (src,) = [s for s in _svg_sources(html, "fingerprint") if f'data-view="{view}"' in s]
        counts = [_number(c) for c in re.findall(r" %: ([\d,]+) stations?</title>", src)]
        assert sum(counts) == len(reg.stations) == 9727
    per_rec = Counter(st.rec_id for st in reg.stations.values())
    altered = {r: u["altered_stations"] for r, u in tally.snapshot().items() if u["level"] == "rec"}
    scatters = _svg_sources(html, "scatter")
    assert len(scatters) == 16
    for src in scatters:
        rid = re.search(r'data-region="(\w+)"', src).group(1)
        series = {s: d.count("M") for s, d in re.findall(r'data-series="([\w-]+)" d="([^"]*)"', src)}
        assert series.get("unchanged", 0) + series.get("altered", 0) == per_rec[rid] > 0, rid
        assert series.get("altered", 0) == series.get("pec-of-altered", 0) == altered[rid], rid


def test_votes_moved_between_levels_add_up_to_the_tallys_votes_moved(tally, html):
    """The chart sums station documents level by level; the tally derives its votes moved on
    its own path (monitor/tally). The two must agree for every region and party."""
    units = tally.snapshot()
    steps = {
        m.group(1): m.group(0) for m in re.finditer(r'<svg [^>]*data-step="([\w-]+)".*?</svg>', html, re.S)
    }
    assert sorted(steps) == ["pec-tec", "tec-cec"]
    shown: dict[tuple[str, str], int] = Counter()
    for src in steps.values():
        for rid, party, v in re.findall(r"<title>(\w+), ([\w ]+): ([+-][\d,]+) votes", src):
            shown[(rid, party)] += _number(v)
    for rid, u in units.items():
        if u["level"] != "rec":
            continue
        for party, v in u["moved"]["votes"].items():
            assert shown.get((rid, party), 0) == v, (rid, party)
        assert shown.get((rid, "invalid"), 0) == u["moved"]["invalid"], rid
    # at the TEC level only Karatau (ZHA) and AST-37 (AST) moved votes (report XIII.D, XIII.E)
    tec = {
        (r, p): _number(v)
        for r, p, v in re.findall(r"<title>(\w+), ([\w ]+): ([+-][\d,]+) votes", steps["pec-tec"])
    }
    assert {r for r, _ in tec} == {"ZHA", "AST"}
    assert tec[("AST", "Nur Otan")] == 187


def _annex_diffs() -> dict[str, dict[str, int]]:
    if ANNEX is None:
        pytest.skip("the shared annex file is not beside the checkout")
    code = {name: c for c, name in REC_CODES.items()}
    out = {}
    for row in json.loads(ANNEX.read_text()):
        rec = code.get(row["region"]) or code[row["region"].removesuffix(" Region")]
        pec, cec = row["pec_protocol"], row["cec_data"]
        diff = {p: cec["votes"][p] - pec["votes"][p] for p in pec["votes"]}
        diff["invalid"] = cec["invalid"] - pec["invalid"]
        out[f"{rec}-{row['station']}"] = diff
    return out


def test_the_flagged_table_has_the_42_annex_stations_with_their_published_diffs(page):
    head = page.tables["flagged-published"][0]
    rows = {r[0]: dict(zip(head, r, strict=True)) for r in page.body_rows("flagged-published")}
    annex = _annex_diffs()
    assert len(annex) == 42 and sorted(rows) == sorted(annex)
    for sid, diff in annex.items():
        assert {k: _number(rows[sid][k]) for k in diff} == diff, sid
        where = rows[sid]["in the report"]
        assert where.startswith("report Annex ") and where.endswith("✓"), sid


def test_the_full_flagged_table_has_every_altered_station(tally, page):
    rows = page.body_rows("flagged-all")
    assert len(rows) == tally.snapshot()["KZ"]["altered_stations"] == len({r[0] for r in rows})
    published = {e["id"].removeprefix("annex.") for e in expected() if e["id"].startswith("annex.")}
    assert len(published) == 42 and published <= {r[0] for r in rows}


def test_the_report_table_has_every_published_figure_with_its_mark(page):
    rows = page.body_rows("report-lines")
    figures = expected()
    assert len(rows) == len(figures) == 122
    ids = [a["data-figure"] for t, a in page.elements if t == "tr" and "data-figure" in a]
    assert ids == [e["id"] for e in figures]
    assert Counter(r[3] for r in rows) == {"✓ yes": 122}


def test_findings_are_listed_with_their_kind_and_explanation(tally):
    findings = _findings(tally)
    html = render(drill_data(tally.snapshot(), tally.stations, tally.registry, findings))
    page = Page(html)
    assert page.errors == []
    by_kind = Counter(f["kind"] for f in findings)
    assert by_kind["protocol_altered"] >= 4207
    listed = {a["data-kind"] for t, a in page.elements if t == "details" and "data-kind" in a}
    assert listed == set(by_kind)
    ids = [a["data-finding"] for t, a in page.elements if t == "tr" and "data-finding" in a]
    assert sorted(ids) == sorted(f["finding_id"] for f in findings)
    one = next(f for f in findings if f["station_id"] == "ALA-406" and f["kind"] == "protocol_altered")
    assert one["explanation"] in html
    alr811 = {r[0]: r for r in page.body_rows("flagged-published")}["ALR-811"]
    assert "turnout_implausible" in alr811[-1] and "protocol_altered" in alr811[-1]
    # the regions' and the nation's own findings come first, unfolded: the four revisions of
    # report XIV fn 91 among them, and no station's or TEC's finding
    (wide,) = [t for t in re.findall(r"<h3>About regions and the nation.*?</table>", html, re.S)]
    places = re.findall(r'<tr><td>([\w_]+)</td><td>\w+</td><td class="id">([^<]*)</td>', wide)
    revised = sorted(p for k, p in places if k == "turnout_revised" and p != "KZ")  # KZ: v1 to the decree
    assert revised == ["ALR", "ATY", "MAN", "WKZ"]
    assert places and all("-" not in p for _, p in places)
    assert ("valid_exceeds_turnout", "KZ") in places


def test_a_night_cut_before_the_cec_publication_says_what_does_not_match(night):
    """Official figures are then the TEC entries: only Karatau and AST-37 are flagged, the
    annex stations are listed as published but not flagged, Annex 1 does not match."""
    cutoff = min(e.at for e in night.events if e.topic == "protocols" and e.value["source"] == "cec")
    t = _tally(night, [e for e in night.events if e.at < cutoff])
    page = Page(render(drill_data(t.snapshot(), t.stations, t.registry, [])))
    assert page.errors == []
    flagged = sorted(r[0] for r in page.body_rows("flagged-all"))
    assert flagged == ["AST-37", "ZHA-410", "ZHA-411", "ZHA-412", "ZHA-414", "ZHA-415"]
    assert page.body_rows("flagged-published") == []
    ids = [a["data-figure"] for t, a in page.elements if t == "tr" and "data-figure" in a]
    marks = dict(zip(ids, (r[3] for r in page.body_rows("report-lines")), strict=True))
    assert marks["annex1.Nur Otan"] == "✗ NO" and marks["turnout.night.voters"] == "✓ yes"


def test_a_morning_read_model_renders_without_protocols(night):
    """Before 14:00 there are two turnout reports and e-ballots, no protocol: the page still
    renders, with what there is."""
    two = min(e.at for e in night.events if e.topic == "turnout" and e.value["seq"] == 3)
    t = _tally(night, [e for e in night.events if e.at < two])
    html = render(drill_data(t.snapshot(), t.stations, t.registry, []))
    page = Page(html)
    assert page.errors == []
    assert _svgs(page, "fingerprint") == [] and "No protocol yet" in html
    assert len(_svgs(page, "turnout")) == 16
    assert len(re.findall(r"<title>ALA \d\d:\d\d: ", html)) == 2
    assert page.body_rows("flagged-all") == []


def test_an_output_path_that_is_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("keep me")
    assert main(["drill-report", "--html", str(f), "--redis-url", "redis://127.0.0.1:1/0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a directory" in err
    assert f.read_text() == "keep me"
    with pytest.raises(ConfigError, match="cannot create the directory"):
        output_dir(str(f / "below" / "deeper"))


def test_writing_the_page_replaces_it_whole(tmp_path):
    out = output_dir(str(tmp_path / "new" / "dir"))
    assert not (tmp_path / "new").exists()  # created only when the page is written
    write_page(out, "<!DOCTYPE html>one")
    target = write_page(out, "<!DOCTYPE html>two")
    assert target.read_text() == "<!DOCTYPE html>two"
    assert [p.name for p in out.iterdir()] == ["index.html"]
