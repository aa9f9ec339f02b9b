"""The pure core of notifications: subscriptions, matching, content digests, signatures, backoff.

No Kafka, Redis or HTTP here. A subscription says which findings a webhook wants (regions,
kinds, a least severity); a finding is the contract's ``finding`` record with its ``rec_id``
extension (docs/architecture.md, "Findings").
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from monitor.alerting.emit import content_digest as emitted_digest
from monitor.contract import CEC_ID, REC_CODES
from monitor.detect.findings import KINDS as KINDS
from monitor.detect.findings import rec_of
from monitor.errors import ConfigError, show

# The contract's detector kinds (monitor.detect.findings.KINDS). Statistical forensics are a
# family whose members are named ``forensic_<test>``; ``forensic_*`` subscribes to all of them.
FORENSIC_PREFIX = "forensic_"
FORENSIC_ALL = "forensic_*"
_FORENSIC_KIND = re.compile(r"forensic_[a-z0-9_]+")
REGIONS = (*REC_CODES, CEC_ID)
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SIGNATURE_HEADER = "X-Tabmon-Signature"


@dataclass(frozen=True)
class Subscription:
    sub_id: str
    webhook: str
    secret: str
    regions: tuple[str, ...] = ()  # empty: every region
    kinds: tuple[str, ...] = ()  # empty: every kind
    min_severity: str = "info"
    created: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.sub_id,
                "webhook": self.webhook,
                "secret": self.secret,
                "regions": list(self.regions),
                "kinds": list(self.kinds),
                "min_severity": self.min_severity,
                "created": self.created,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Subscription:
        d = orjson.loads(raw)
        return cls(
            sub_id=d["id"],
            webhook=d["webhook"],
            secret=d["secret"],
            regions=tuple(d["regions"]),
            kinds=tuple(d["kinds"]),
            min_severity=d["min_severity"],
            created=d.get("created", ""),
        )

    def masked(self) -> dict[str, Any]:
        """For listings: the secret is shown by its first four characters only."""
        return {
            "id": self.sub_id,
            "webhook": self.webhook,
            "secret": mask_secret(self.secret),
            "regions": list(self.regions) or ["*"],
            "kinds": list(self.kinds) or ["*"],
            "min_severity": self.min_severity,
            "created": self.created,
        }


def mask_secret(secret: str) -> str:
    return secret[:4] + "*" * 8


# -- validating what a person types --------------------------------------------------------------
def check_webhook(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        if host:
            host.encode("idna")  # empty or over-long labels: aiohttp would fail at delivery
    except (ValueError, UnicodeError):
        raise ConfigError(f"webhook {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"webhook {url!r} is not an http:// or https:// URL with a host")
    if any(c.isspace() for c in url):
        raise ConfigError(f"webhook {url!r} contains white space")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ConfigError(f"webhook {url!r} has an invalid port") from None
    return url


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    out = []
    for k in kinds:
        if k not in KINDS and k != FORENSIC_ALL and not _FORENSIC_KIND.fullmatch(k):
            raise ConfigError(
                f"unknown kind {k!r}: one of {', '.join(KINDS)}, {FORENSIC_ALL} or forensic_<name>"
            )
        out.append(k)
    return tuple(dict.fromkeys(out))


def check_regions(regions: Iterable[str]) -> tuple[str, ...]:
    out = []
    for r in regions:
        code = r.upper()
        if code not in REGIONS:
            raise ConfigError(f"unknown region {r!r}: one of {', '.join(REGIONS)}")
        out.append(code)
    return tuple(dict.fromkeys(out))


def check_severity(severity: str) -> str:
    if severity not in SEVERITY_RANK:
        raise ConfigError(f"unknown severity {severity!r}: one of {', '.join(SEVERITY_RANK)}")
    return severity


def check_secret(secret: str) -> str:
    if len(secret) < 16 or any(c.isspace() for c in secret):
        raise ConfigError("a secret must be at least 16 characters without white space")
    return secret


def new_subscription(
    webhook: str,
    regions: Iterable[str] = (),
    kinds: Iterable[str] = (),
    min_severity: str = "info",
    secret: str | None = None,
    created: str = "",
) -> Subscription:
    """A validated subscription with a fresh id and, unless one is given, a fresh secret."""
    return Subscription(
        sub_id="s-" + secrets.token_hex(6),
        webhook=check_webhook(webhook),
        secret=check_secret(secret) if secret is not None else secrets.token_hex(32),
        regions=check_regions(regions),
        kinds=check_kinds(kinds),
        min_severity=check_severity(min_severity),
        created=created,
    )


# -- deciding -----------------------------------------------------------------------------------
def kind_matches(wanted: tuple[str, ...], kind: str) -> bool:
    if not wanted or kind in wanted:
        return True
    return FORENSIC_ALL in wanted and kind.startswith(FORENSIC_PREFIX)


def region_of(finding: Mapping[str, Any]) -> str:
    """``rec_id`` (the documented extension), else the prefix of the station or unit id."""
    rec = finding.get("rec_id")
    return str(rec) if rec else rec_of(str(finding.get("station_id") or finding["unit_id"]))


def in_scope(sub: Subscription, finding: Mapping[str, Any]) -> bool:
    """Region and kind: fixed for a finding id, so out of scope once is out of scope always."""
    if sub.regions and region_of(finding) not in sub.regions:
        return False
    return kind_matches(sub.kinds, finding["kind"])


def severe_enough(sub: Subscription, finding: Mapping[str, Any]) -> bool:
    return SEVERITY_RANK.get(finding["severity"], -1) >= SEVERITY_RANK[sub.min_severity]


def matches(sub: Subscription, finding: Mapping[str, Any]) -> bool:
    """Whether a subscriber wants to hear of this finding as it is now."""
    return in_scope(sub, finding) and severe_enough(sub, finding)


def content_digest(finding: Mapping[str, Any]) -> str:
    """What the emitter compares before re-emitting (severity, evidence, explanation): the
    same digest means the same content, whatever ``updated`` says. Kind and place are fixed
    by the finding id."""
    return emitted_digest(dict(finding))


def decide(previous_digest: str | None, digest: str, wanted: bool) -> str | None:
    """The notification a subscriber gets: ``new`` the first time a finding matches,
    ``updated`` when a finding it was told of changes (even if it no longer matches: a
    lowered severity is news too), nothing for the same content twice."""
    if previous_digest is None:
        return "new" if wanted else None
    if previous_digest == digest:
        return None
    return "updated"


@dataclass(frozen=True)
class Seen:
    """What a subscriber was last notified of for one finding: its digest, how many
    notifications of it there have been, and where in the topic the finding was read."""

    digest: str
    n: int
    partition: int = -1
    offset: int = -1

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"digest": self.digest, "n": self.n, "partition": self.partition, "offset": self.offset}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Seen:
        d = orjson.loads(raw)
        return cls(d["digest"], int(d["n"]), int(d.get("partition", -1)), int(d.get("offset", -1)))


@dataclass(frozen=True)
class Incoming:
    """A finding as read from the topic: the record and its position."""

    finding: dict[str, Any]
    partition: int = -1
    offset: int = -1

    @property
    def finding_id(self) -> str:
        fid: str = self.finding["finding_id"]
        return fid

    def read_before(self, seen: Seen | None) -> bool:
        """Already handled: a re-read (after a crash, or by a second notifier during a
        rebalance) of a message at or before the one the last notification came from. A
        finding id always lands on one partition (the key), so offsets order its versions."""
        return (
            seen is not None
            and self.partition >= 0
            and seen.partition == self.partition
            and self.offset <= seen.offset
        )


@dataclass(frozen=True)
class Notification:
    sub_id: str
    finding_id: str
    digest: str
    event: str  # new | updated
    n: int  # 1 for the first notification of this finding to this subscriber
    partition: int = -1
    offset: int = -1

    @property
    def delivery_id(self) -> str:
        return f"{self.finding_id}.{self.n}"

    @property
    def seen(self) -> Seen:
        return Seen(self.digest, self.n, self.partition, self.offset)


def next_notification(sub: Subscription, item: Incoming, seen: Seen | None) -> Notification | None:
    """The notification this finding makes for this subscriber, given what it was told."""
    finding = item.finding
    if not in_scope(sub, finding) or item.read_before(seen):
        return None
    digest = content_digest(finding)
    event = decide(seen.digest if seen else None, digest, severe_enough(sub, finding))
    if event is None:
        return None
    return Notification(
        sub.sub_id, item.finding_id, digest, event, seen.n + 1 if seen else 1, item.partition, item.offset
    )


def payload(note: Notification, finding: Mapping[str, Any]) -> bytes:
    """The exact body POSTed (and signed): the same bytes on every retry."""
    return orjson.dumps(
        {
            "event": note.event,
            "delivery_id": note.delivery_id,
            "subscription_id": note.sub_id,
            "finding": finding,
        }
    )


# -- what the notifier can use of a record on ``alerts`` -----------------------------------------
# The finding id goes into a header (X-Tabmon-Delivery) and Redis: matched whole, since ``$``
# would let a final newline through, and aiohttp refuses such a header at every attempt.
_FINDING_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\.[0-9]{1,18}")
# Nesting of a record (the record itself is level 1). The detectors' findings are 4 deep;
# orjson reads 1024 levels but writes no more than 254, and the notifier writes every finding
# again (its digest, the body), so a deeper record would fail there, at every restart.
MAX_DEPTH = 32
MAX_FIELD = 64  # characters of kind, unit_id, station_id, rec_id, first_seen and updated
MAX_EXPLANATION = 4096  # characters of the explanation (the detectors' are under 200)
# Why a record on ``alerts`` is not used: the ``reason`` label of the invalid-records metric
# and the ``code`` of its dead letter (docs/notifications.md, "Records it cannot use").
REJECTIONS = (
    "malformed_json",
    "not_an_object",
    "wrong_type",
    "missing_field",
    "bad_value",
    "too_deep",
    "bug",
)


class Unusable(ValueError):
    """A record the notifier cannot use: ``code`` (one of REJECTIONS) and a sentence."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def usable_delivery_id(delivery_id: str) -> bool:
    """Whether a delivery id is one :func:`check_finding` lets through, so that it can travel in
    the X-Tabmon-Delivery header (one recorded before ids were matched whole may not)."""
    return _DELIVERY_ID.fullmatch(delivery_id) is not None


def nesting(value: Any) -> int:
    """How deep lists and objects nest in a decoded JSON value (a scalar is 0). Iterative: a
    record as deep as orjson reads must not exhaust the interpreter's stack here."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, level = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return deepest


def check_finding(record: Any) -> dict[str, Any]:
    """The record if notification can use it, or :class:`Unusable` naming what is wrong.

    Every value that reaches a header, Redis or a body written again is checked here: a
    record that passes can be decided on, recorded and delivered."""
    if not isinstance(record, dict):
        raise Unusable("not_an_object", f"not a finding record: a JSON {_json_type(record)}")
    if record.get("type") != "finding":
        raise Unusable("wrong_type", f"not a finding record: type {show(record.get('type'))}")
    for name in ("finding_id", "kind", "severity", "unit_id", "explanation"):
        value = record.get(name)
        if value is None or value == "":
            raise Unusable("missing_field", f"finding without a string {name!r}")
        if not isinstance(value, str):
            raise Unusable("wrong_type", f"finding without a string {name!r}: {show(value)}")
    if "evidence" not in record or record["evidence"] is None:
        raise Unusable("missing_field", "finding without an evidence object")
    if not isinstance(record["evidence"], dict):
        raise Unusable("wrong_type", f"finding without an evidence object: {show(record['evidence'])}")
    for name in ("station_id", "rec_id", "first_seen", "updated"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise Unusable("wrong_type", f"finding with a {name!r} that is not a string: {show(value)}")
    if not _FINDING_ID.fullmatch(record["finding_id"]):
        raise Unusable(
            "bad_value",
            f"finding_id {show(record['finding_id'])} is not 1 to 128 characters of [A-Za-z0-9._:-]",
        )
    if record["severity"] not in SEVERITY_RANK:
        raise Unusable("bad_value", f"unknown severity {show(record['severity'])}")
    for name in ("kind", "unit_id", "station_id", "rec_id", "first_seen", "updated"):
        if len(record.get(name) or "") > MAX_FIELD:
            raise Unusable("bad_value", f"finding with a {name!r} longer than {MAX_FIELD} characters")
    if len(record["explanation"]) > MAX_EXPLANATION:
        raise Unusable("bad_value", f"finding with an explanation longer than {MAX_EXPLANATION} characters")
    if (depth := nesting(record)) > MAX_DEPTH:
        raise Unusable("too_deep", f"finding nested {depth} levels deep, more than {MAX_DEPTH}")
    return record


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# -- signing ------------------------------------------------------------------------------------
def sign(body: bytes, secret: str) -> str:
    """The ``X-Tabmon-Signature`` header value: HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str, secret: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(body, secret), header)


# -- retrying -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    base: float = 1.0  # seconds before the first retry
    cap: float = 300.0  # no wait is longer than this
    jitter: float = 0.5  # this share of each wait is drawn at random, so retries spread out
    max_refusals: int = 30  # refused attempts (see outcome) before a delivery is given up

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (>= 1)."""
        full = min(self.cap, self.base * 2.0 ** max(0, min(failures - 1, 62)))
        r = rng.random() if rng is not None else random.random()
        return full * (1 - self.jitter) + full * self.jitter * r

    def gives_up(self, refusals: int) -> bool:
        return refusals >= self.max_refusals


# Answers that mean "not now" rather than "not this": the receiver, or the proxy in front of
# it, is down or busy. Like no answer at all, they are retried for as long as it takes.
UNAVAILABLE_STATUSES = frozenset({408, 429, 502, 503, 504})


def outcome(status: int | None) -> str:
    """``delivered`` (2xx), ``unavailable`` (no answer, or a not-now status: retried without
    limit, so a receiver that is down gets everything when it is back) or ``refused`` (any
    other answer: retried up to ``max_attempts`` refusals, then given up)."""
    if status is None or status in UNAVAILABLE_STATUSES:
        return "unavailable"
    return "delivered" if 200 <= status < 300 else "refused"
