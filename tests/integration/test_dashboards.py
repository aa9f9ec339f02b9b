"""Every dashboard query against a real Prometheus scraping real workers through an election.

A synthetic election with protocols altered at a few stations (so that there are findings).
Two workers share the partitions (as in production), the second joining mid-night so that
the rebuild panels have something to show; a few bad messages feed the rejection panels.
Prometheus (the Debian package) scrapes both every second. Then each panel's query runs
through the HTTP API with the template variables set to real values: each must return data.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import build, lint
from integration.conftest import caught_up, wait_for
from monitor.adapters import procs
from producers.elections.synthetic import TimedEvent, generate
from producers.replay import Message, messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRAPE = 1  # seconds
RATE_INTERVAL = f"{4 * SCRAPE + 1}s"  # Grafana's $__rate_interval: at least four scrapes


class Prometheus:
    """A prometheus process on a free port, its HTTP API, and nothing else."""

    def __init__(self, workdir: Path, targets: list[str], log: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not installed: run scripts/install-system-deps.sh")
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        config.write_text(
            json.dumps(
                {  # JSON is YAML
                    "global": {"scrape_interval": f"{SCRAPE}s", "evaluation_interval": f"{SCRAPE}s"},
                    "scrape_configs": [{"job_name": "tabmon", "static_configs": [{"targets": targets}]}],
                }
            )
        )
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        procs.wait_for_port(self.port, 30, self.proc, "prometheus")
        self.started = time.time()

    def api(self, path: str, **params: str | float) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = urllib.request.urlopen(url, timeout=30).read()
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, with Prometheus' reason
            body = exc.read()
        reply = json.loads(body)
        if reply["status"] != "success":
            raise QueryError(f"{reply.get('errorType')}: {reply.get('error')}")
        return reply["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def stop(self) -> None:
        procs.stop(self.proc)


class QueryError(Exception):
    pass


ALTERED = 8  # stations whose CEC figures take votes from one party and give them to another


def _altered(event: TimedEvent, moved: int) -> TimedEvent:
    """A later version of a CEC protocol with ``moved`` votes from the strongest party to the
    weakest: the control relations still hold, only the protocol comparison tells."""
    value = copy.deepcopy(event.value)
    votes = value["figures"]["votes"]
    strong, weak = max(votes, key=votes.get), min(votes, key=votes.get)
    votes[strong], votes[weak] = votes[strong] - moved, votes[weak] + moved
    value["version"] += 1
    return TimedEvent(event.at, event.topic, event.key, value)


@pytest.fixture(scope="module")
def night():
    election = generate(400, 32, seed=5, evote_ballots=2000)
    cec = [e for e in election.events if e.topic == "protocols" and e.value["source"] == "cec"]
    events = [*election.events, *(_altered(e, 30 + i) for i, e in enumerate(cec[:ALTERED]))]
    return election.registry, sorted(events, key=lambda e: e.at)


def _bad_messages(station: str) -> list[Message]:
    k = station.encode()
    return [
        Message("turnout", k, b'{"type": "turnout", "v": 1, "station_id": '),
        Message("protocols", k, b"[1, 2, 3]"),
    ]


def _wait_for_rebuild(ports: list[int], proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the joining worker is in the group: the rebalance makes the workers re-read what
    the first one had committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the second worker exited with {proc.returncode}")
        if sum(_samples(port, "tabmon_replayed_events_total") for port in ports) > 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"no worker rebuilt a partition within {timeout} s of the second joining")


def _metrics(port: int) -> list[Any]:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except OSError:  # a worker that is starting serves nothing yet
        return []
    return list(text_string_to_metric_families(text))


def _samples(port: int, name: str) -> float:
    return sum(s.value for fam in _metrics(port) for s in fam.samples if s.name == name)


def _exposed(port: int) -> set[str]:
    families = _metrics(port)
    assert families, f"nothing on :{port}/metrics"
    return lint.exported_names(families)


def _substitute(expr: str, values: dict[str, str], range_s: int) -> str:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", f"{range_s}s")
    for name in sorted(values, key=len, reverse=True):  # $tec before a shorter $te
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    return expr


def _has_data(result: Any) -> bool:
    """At least one sample that is a number (a histogram quantile over nothing is NaN)."""
    for series in result:
        samples = series.get("values") or [series["value"]]
        if any(not math.isnan(float(v)) for _, v in samples):
            return True
    return False


def _choose(prom: Prometheus) -> dict[str, str]:
    """A REC, a TEC and a station that have findings: a station whose protocol was altered,
    so that its detail has differences to show."""
    info = prom.query('tabmon_finding_info{kind="protocol_altered"}')
    assert info, "no protocol_altered finding exported: the drill has altered stations"
    m = info[0]["metric"]
    # its figures follow once the stage-two worker has loaded its document (a sweep)
    _eventually(
        lambda: prom.query(f'tabmon_station_figures{{station="{m["station"]}"}}'),
        f"the figures of flagged station {m['station']}",
        timeout=30,
    )
    return {"rec": m["rec"], "tec": m["unit"], "station": m["station"]}


def _eventually(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(SCRAPE)


def _resolve_variables(
    prom: Prometheus, dashboard: dict, chosen: dict[str, str], problems: list[str]
) -> dict[str, str]:
    """Each variable as Grafana resolves it (series API); the chosen value must be an option,
    a variable with "All" takes its allValue."""
    values: dict[str, str] = {}
    for v in dashboard["templating"]["list"]:
        m = lint.LABEL_VALUES.match(v["query"])
        assert m is not None, v["query"]
        selector = _substitute(m["selector"], values, 60)
        series = prom.api("series", **{"match[]": selector, "start": prom.started - 60})
        options = sorted({s[m["label"]] for s in series if m["label"] in s})
        where = f"{dashboard['uid']} ${v['name']}"
        if not options:
            problems.append(f"{where}: no options ({v['query']})")
        if v.get("includeAll"):
            values[v["name"]] = v["allValue"]
        else:
            values[v["name"]] = chosen[v["name"]]
            if chosen[v["name"]] not in options:
                problems.append(f"{where}: {chosen[v['name']]} is not among its {len(options)} options")
    return values


def _run_panels(
    prom: Prometheus, dashboard: dict, values: dict[str, str], end: float, empty: list[str], errors: list[str]
) -> int:
    n = 0
    range_s = int(end - prom.started) + 1
    for panel, t in lint.queries(dashboard):
        expr = _substitute(t["expr"], values, range_s)
        where = f"{dashboard['uid']} panel {panel['id']} {panel['title']!r} {t['refId']}"
        n += 1
        try:
            if t["instant"]:
                result = prom.api("query", query=expr, time=end)["result"]
            else:
                result = prom.api("query_range", query=expr, start=prom.started, end=end, step=SCRAPE)[
                    "result"
                ]
        except QueryError as exc:
            errors.append(f"{where}: {exc} in {expr}")
            continue
        if not _has_data(result):
            empty.append(f"{where}: {expr}")
    return n


def _scraped_final_state(prom: Prometheus, units: dict[str, Any], timeout: float = 60) -> None:
    """Wait until Prometheus holds the tally the read model holds, plus a few scrapes."""
    want = units["KZ"]["official"]["stations_reported"]
    expr = 'max without (instance, job) (tabmon_stations_reported{level="cec",view="official"})'
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        r = prom.query(expr)
        got = float(r[0]["value"][1]) if r else None
        if got == want:
            time.sleep(3 * SCRAPE)
            return
        time.sleep(SCRAPE)
    raise AssertionError(f"Prometheus shows {got} stations with official figures, the tally {want}")


def test_every_panel_query_returns_data(settings, workers, logdir, tmp_path, night):
    second = procs.free_port()
    targets = [f"127.0.0.1:{settings.metrics_port}", f"127.0.0.1:{second}"]
    prom = Prometheus(tmp_path / "prometheus", targets, logdir / "prometheus.log")
    try:
        registry, events = night
        send(settings, messages_of(registry, []))
        first = workers.start()
        half = len(events) // 2
        send(settings, messages_of([], events[:half]))
        wait_for(
            settings,
            lambda m: m is not None and sum(m["watermarks"].values()) > half // 4,
            120,
            "the first worker to make progress",
            first,
        )
        # A second worker joins: a rebalance, and both rebuild what they are assigned.
        workers.settings = dataclasses.replace(settings, metrics_port=second)
        joined = workers.start()
        _wait_for_rebuild([settings.metrics_port, second], joined)
        station = next(r["station_id"] for r in registry if r["type"] == "station")
        send(settings, _bad_messages(station) + messages_of([], events[half:]))
        units = caught_up(settings, timeout=300, proc=first)
        _scraped_final_state(prom, units)

        exposed = _exposed(settings.metrics_port) | _exposed(second)
        chosen = _choose(prom)
        end = time.time()
        problems: list[str] = []
        empty: list[str] = []
        errors: list[str] = []
        ran = 0
        for text in build.generate().values():
            dashboard = json.loads(text)
            for _, t in lint.queries(dashboard):
                missing = lint.metric_names(t["expr"]) - exposed - lint.PROMETHEUS_SERIES
                problems += [f"{dashboard['uid']}: {n} is not on the workers' /metrics" for n in missing]
            values = _resolve_variables(prom, dashboard, chosen, problems)
            ran += _run_panels(prom, dashboard, values, end, empty, errors)
        report = "\n".join(
            [
                f"chosen {chosen}; {ran} queries",
                *(f"ERROR {e}" for e in errors),
                *(f"EMPTY {e}" for e in empty),
                *sorted(set(problems)),
            ]
        )
        assert not (errors or empty or problems), report
    finally:
        prom.stop()
