"""End to end: a synthetic election with injected anomalies through a real worker, the
findings it emits to `alerts` delivered by `tabmon notify` to real webhook receivers, with
the worker killed and restarted in the middle of the night.

What each subscriber should get is derived here from the `alerts` topic itself, by the rule
docs/notifications.md states: in the order emitted, a finding in the subscriber's scope is
`new` the first time it is severe enough, then `updated` each time its content (severity,
evidence, explanation) differs from what the subscriber was last sent.
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from typing import Any

import orjson
import pytest

from integration.conftest import caught_up
from integration.webhook import Receiver, ledger, notifiers, nsettings, read_alerts, receivers, subscribe
from monitor.adapters import procs
from producers.elections.synthetic import TimedEvent, generate
from producers.replay import messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["nsettings", "notifiers", "receivers"]  # fixtures, used by name
RANK = {"info": 0, "warning": 1, "critical": 2}


def moved(event: TimedEvent, version: int, votes_moved: int, hours: int) -> TimedEvent:
    """A later version of a protocol with votes moved from the strongest to the weakest party
    (the control relations still hold: an alteration, not an arithmetic error)."""
    value = copy.deepcopy(event.value)
    votes = value["figures"]["votes"]
    strong, weak = max(votes, key=votes.get), min(votes, key=votes.get)
    votes[weak] += votes_moved
    votes[strong] -= votes_moved
    at = event.at + timedelta(hours=hours)
    value.update(version=version, recorded_at=at.isoformat())
    return TimedEvent(at, event.topic, event.key, value)


def miscounted(event: TimedEvent, hours: int) -> TimedEvent:
    """An observer's copy with one vote too many: it breaks a control relation."""
    value = copy.deepcopy(event.value)
    party = next(iter(value["figures"]["votes"]))
    value["figures"]["votes"][party] += 1
    at = event.at + timedelta(hours=hours)
    value.update(source="observer", version=1, recorded_at=at.isoformat())
    return TimedEvent(at, event.topic, event.key, value)


def expected(
    alerts: list[dict[str, Any]],
    regions: set[str] = frozenset(),
    kinds: set[str] = frozenset(),
    least: str = "info",
) -> list[tuple[str, str, str]]:
    out, told = [], {}
    for a in alerts:  # per finding in emission order: one finding id is on one partition
        if (regions and a["rec_id"] not in regions) or (kinds and a["kind"] not in kinds):
            continue
        content = orjson.dumps(
            [a["severity"], a["evidence"], a["explanation"]], option=orjson.OPT_SORT_KEYS
        ).decode()
        fid = a["finding_id"]
        if fid not in told and RANK[a["severity"]] >= RANK[least]:
            out.append((fid, "new", content))
        elif fid in told and told[fid] != content:
            out.append((fid, "updated", content))
        else:
            continue
        told[fid] = content
    return sorted(out)


def received(r: Receiver) -> list[tuple[str, str, str]]:
    out = []
    for p in r.snapshot():
        f = p.payload["finding"]
        content = orjson.dumps(
            [f["severity"], f["evidence"], f["explanation"]], option=orjson.OPT_SORT_KEYS
        ).decode()
        out.append((f["finding_id"], p.event, content))
    return sorted(out)


def settled_alerts(settings, quiet: float) -> list[dict[str, Any]]:
    """The alerts topic once nothing new has arrived for ``quiet`` seconds."""
    alerts = read_alerts(settings)
    while True:
        time.sleep(quiet)
        again = read_alerts(settings)
        if len(again) == len(alerts):
            return again
        alerts = again


def test_every_finding_of_a_night_reaches_each_matching_subscriber_once(
    nsettings, workers, notifiers, receivers
):
    s = nsettings
    election = generate(160, 16, seed=23, evote_ballots=400)
    events = election.events
    cec_at = [i for i, e in enumerate(events) if e.topic == "protocols" and e.value["source"] == "cec"]
    cut = cec_at[len(cec_at) // 2]  # the worker dies halfway through the CEC's publication
    by_region: dict[str, list[TimedEvent]] = {}
    for i in cec_at:
        by_region.setdefault(events[i].key.split("-")[0], []).append(events[i])
    regions = sorted(r for r, es in by_region.items() if len(es) >= 2)[:4]
    assert len(regions) == 4, "the election has fewer regions than the test needs"
    first_of = {r: by_region[r][0] for r in regions}
    assert events.index(first_of[regions[0]]) < cut and events.index(first_of[regions[1]]) < cut
    pec = next(
        e
        for e in events
        if e.topic == "protocols" and e.value["source"] == "pec" and e.key.split("-")[0] == regions[3]
    )
    early = [moved(first_of[regions[0]], 2, 40, 30), moved(first_of[regions[1]], 2, 5, 30)]
    late = [
        moved(by_region[regions[2]][-1], 2, 25, 31),
        miscounted(pec, 31),
        moved(first_of[regions[0]], 3, 70, 32),
    ]  # the first alteration grows: an update

    all_id, everything = subscribe(s, receivers)
    reg_id, regional = subscribe(s, receivers, "--region", regions[0], regions[3])
    crit_id, critical = subscribe(s, receivers, "--min-severity", "critical")
    ar_id, arithmetic = subscribe(s, receivers, "--kind", "arithmetic_inconsistent")
    notifiers.start()

    send(s, messages_of(election.registry, [*events[:cut], *early]))
    first = workers.start()
    deadline = time.monotonic() + 90
    while not everything.snapshot():  # the night is under way and notifications are flowing
        assert time.monotonic() < deadline and first.poll() is None, "no finding was delivered"
        time.sleep(0.2)
    procs.kill(first)  # SIGKILL mid-night: the next worker re-detects everything from offset 0
    send(s, messages_of([], [*events[cut:], *late]))
    second = workers.start()
    caught_up(s, timeout=120, proc=second)
    alerts = settled_alerts(s, quiet=s.sweep_interval + 3)

    want = {
        all_id: (everything, expected(alerts)),
        reg_id: (regional, expected(alerts, regions={regions[0], regions[3]})),
        crit_id: (critical, expected(alerts, least="critical")),
        ar_id: (arithmetic, expected(alerts, kinds={"arithmetic_inconsistent"})),
    }
    # the injected anomalies are there, so that the comparison below is not vacuous
    assert {("new", regions[0]), ("updated", regions[0])} <= {
        (ev, fid_rec)
        for fid, ev, _c in want[reg_id][1]
        for fid_rec in [next(a["rec_id"] for a in alerts if a["finding_id"] == fid)]
    }
    assert any(a["kind"] == "arithmetic_inconsistent" for a in alerts)
    assert len(want[crit_id][1]) >= 3 and len(want[all_id][1]) > len(want[crit_id][1])
    for sub_id, (r, notes) in want.items():
        r.wait_for(len(notes), 60, f"for {sub_id}")
        posts = r.snapshot()
        assert received(r) == notes, sub_id
        assert len({p.delivery_id for p in posts}) == len(posts), f"{sub_id} got a notification twice"
        assert all(p.signature_ok for p in posts)
        assert {e["status"] for e in ledger(s, sub_id)} <= {"delivered"}
        assert len(ledger(s, sub_id)) == len(notes)
