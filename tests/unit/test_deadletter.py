"""Dead letters: the CONTRACT.md shape, the key, raw bytes as text or base64, truncation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract import dead_letter, original_bytes

ALMATY = timezone(timedelta(hours=6))
AT = datetime(2007, 8, 18, 20, 41, 7, tzinfo=ALMATY)


def letter(raw, limit=1000, **kw):
    args = {
        "topic": "protocols",
        "partition": 5,
        "offset": 1234,
        "code": "malformed_json",
        "reason": "not valid JSON: unexpected end of data",
        "raw": raw,
        "limit": limit,
        "received_at": AT,
    }
    args.update(kw)
    key, value = dead_letter(**args)
    return key, json.loads(value)


def test_shape_per_contract():
    raw = b'{"type": "protocol", "v": 1, "station_id": "ALR-811",'
    key, d = letter(raw)
    contract = {"type", "v", "received_at", "topic", "partition", "offset", "reason", "raw"}
    assert contract <= set(d)
    assert d["type"] == "rejected" and d["v"] == 1 and type(d["v"]) is int
    assert datetime.fromisoformat(d["received_at"]) == AT
    assert datetime.fromisoformat(d["received_at"]).utcoffset() == timedelta(hours=6)
    assert (d["topic"], d["partition"], d["offset"]) == ("protocols", 5, 1234)
    assert d["reason"] == "not valid JSON: unexpected end of data"
    assert d["code"] == "malformed_json"
    assert d["raw"] == raw.decode()
    assert d["raw_encoding"] == "utf-8"
    assert d["raw_size"] == len(raw)
    assert d["raw_truncated"] is False


def test_key_is_topic_partition_offset():
    key, _ = letter(b"x", topic="kz.turnout", partition=0, offset=0)
    assert key == b"kz.turnout/0/0"
    key2, _ = letter(b"different bytes", topic="kz.turnout", partition=0, offset=0, reason="r")
    assert key2 == key  # the same message rejected twice is recognisably the same letter
    assert letter(b"x", topic="evote", partition=11, offset=987654321)[0] == b"evote/11/987654321"


def test_received_at_defaults_to_now_in_utc():
    before = datetime.now(UTC)
    _, d = letter(b"x", received_at=None)
    after = datetime.now(UTC)
    t = datetime.fromisoformat(d["received_at"])
    assert t.utcoffset() == timedelta(0)
    assert before <= t <= after


def test_utf8_raw_is_kept_as_text():
    text = '{"station_id": "ALR-811", "name": "Алматы", "votes": {"Нұр Отан": 5}}'
    _, d = letter(text.encode("utf-8"))
    assert d["raw"] == text
    assert d["raw_encoding"] == "utf-8"
    assert d["raw_size"] == len(text.encode("utf-8")) != len(text)
    assert original_bytes(d) == text.encode("utf-8")


def test_non_utf8_raw_travels_as_base64():
    raw = b'\xff\xfe{\x00"v\x00"\x00:\x001\x00}\x00\x80'
    _, d = letter(raw)
    assert d["raw_encoding"] == "base64"
    assert base64.b64decode(d["raw"], validate=True) == raw
    assert d["raw_size"] == len(raw)
    assert original_bytes(d) == raw


def test_truncated_to_the_limit():
    raw = b'{"pad": "' + b"x" * 500 + b'"}'
    _, d = letter(raw, limit=64)
    assert d["raw"] == raw[:64].decode()
    assert d["raw_truncated"] is True
    assert d["raw_size"] == len(raw)
    assert original_bytes(d) == raw[:64]


def test_exactly_the_limit_is_not_truncated():
    raw = b"y" * 64
    _, d = letter(raw, limit=64)
    assert (d["raw"], d["raw_truncated"], d["raw_size"]) == ("y" * 64, False, 64)
    _, d = letter(raw, limit=63)
    assert (d["raw"], d["raw_truncated"], d["raw_size"]) == ("y" * 63, True, 64)


def test_truncation_inside_a_multibyte_character_still_round_trips():
    raw = "Жамбыл".encode()  # two bytes per letter
    _, d = letter(raw, limit=5)
    assert original_bytes(d) == raw[:5]
    assert d["raw_truncated"] is True and d["raw_size"] == len(raw)


def test_missing_raw_is_empty():
    for raw in (None, b""):
        _, d = letter(raw)
        assert (d["raw"], d["raw_size"], d["raw_truncated"]) == ("", 0, False)
        assert original_bytes(d) == b""


def test_value_is_one_json_object():
    _, value = dead_letter(topic="t", partition=0, offset=1, code="c", reason="r", raw=b"\n\t", limit=10)
    assert value.strip().startswith(b"{") and b"\n" not in value
    assert json.loads(value)["raw"] == "\n\t"


@given(raw=st.binary(max_size=200) | st.text(max_size=80).map(str.encode), limit=st.integers(0, 250))
def test_original_bytes_round_trips(raw, limit):
    key, value = dead_letter(
        topic="turnout", partition=1, offset=2, code="x", reason="y", raw=raw, limit=limit
    )
    d = json.loads(value)
    assert original_bytes(d) == raw[:limit]
    assert d["raw_size"] == len(raw)
    assert d["raw_truncated"] is (len(raw) > limit)
    assert d["raw_encoding"] in ("utf-8", "base64")


def test_a_dead_letter_stays_within_four_thirds_of_the_limit_whatever_the_bytes():
    """Control characters would be written \\u00XX, six bytes for one: such raw goes as base64."""
    for raw in (b'{"pad":"' + b"\x01" * 20_000 + b'"}', bytes(range(32)) * 600, b"\xff" * 20_000):
        key, value = dead_letter(
            topic="t", partition=0, offset=1, code="c", reason="r", raw=raw, limit=16_384
        )
        letter = orjson.loads(value)
        assert original_bytes(letter) == raw[:16_384]
        assert len(value) <= 16_384 * 4 // 3 + 400
