"""Dead letters: what the monitor could not use, with the reason and the original bytes.

Shape per CONTRACT.md: ``{"type":"rejected","v":1,"received_at","topic","partition","offset",
"reason","raw"}``. Extensions (docs/contract.md): ``code`` (the stable reason label),
``raw_encoding`` ("utf-8" or "base64": raw bytes that are not UTF-8 travel as base64),
``raw_size`` and ``raw_truncated``. ``reason`` is cut at REASON_LIMIT characters and ``raw`` at
the configured limit, so a dead letter is bounded whatever it carries. The message key is
``topic/partition/offset``, so a dead letter sent twice after a restart is recognisably the
same one.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson

# Characters of the reason kept (the contract's sentences are shorter; this bounds the rest).
REASON_LIMIT = 500


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    code: str,
    reason: str,
    raw: bytes | None,
    limit: int,
    received_at: datetime | None = None,
) -> tuple[bytes, bytes]:
    """(key, value) of the dead letter for one rejected message."""
    raw = raw or b""
    kept = raw[:limit]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
        # control characters are written \u00XX, six bytes for one: such a text goes as
        # base64 instead, so that a dead letter stays within 4/3 of the limit, whatever it holds
        if len(orjson.dumps(text)) > len(kept) * 4 // 3 + 8:
            raise UnicodeDecodeError("utf-8", kept, 0, 1, "escapes to more than base64")
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    value = {
        "type": "rejected",
        "v": 1,
        "received_at": (received_at or datetime.now(UTC)).isoformat(),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…",
        "code": code,
        "raw": text,
        "raw_encoding": encoding,
        "raw_size": len(raw),
        "raw_truncated": len(raw) > limit,
    }
    return f"{topic}/{partition}/{offset}".encode(), orjson.dumps(value)


def original_bytes(letter: dict[str, object]) -> bytes:
    """The (possibly truncated) original message carried by a dead letter."""
    raw = str(letter["raw"])
    if letter.get("raw_encoding") == "base64":
        return base64.b64decode(raw)
    return raw.encode("utf-8")
