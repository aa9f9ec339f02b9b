"""Byte-level mutations of valid events: bit flips, truncation, insertions, digits, splices
(the part of :class:`producers.hostile.mutations.HostileInputs` that does not parse)."""

from __future__ import annotations

import json

from producers.hostile.values import BYTE_PALETTE, Hostile, _Base


class ByteMutations:
    """Mixed into HostileInputs: every method reads its ``rng`` and helpers."""

    # -- byte-level -------------------------------------------------------------------------
    def _bitflip(self, b: _Base) -> Hostile:
        rng = self.rng
        raw = bytearray(b.raw)
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            i = rng.randrange(len(raw))
            raw[i] ^= 1 << rng.randrange(8)
        return Hostile(b.topic, b.key, bytes(raw))

    def _truncate(self, b: _Base) -> Hostile:
        return Hostile(b.topic, b.key, b.raw[: self.rng.randrange(len(b.raw))])

    def _insert(self, b: _Base) -> Hostile:
        rng = self.rng
        i = rng.randrange(len(b.raw) + 1)
        if rng.random() < 0.5:
            junk = b"".join(rng.choice(BYTE_PALETTE) for _ in range(rng.randint(1, 4)))
        else:
            junk = rng.randbytes(rng.randint(1, 16))
        return Hostile(b.topic, b.key, b.raw[:i] + junk + b.raw[i:])

    def _delete(self, b: _Base) -> Hostile:
        rng = self.rng
        i = rng.randrange(len(b.raw))
        return Hostile(b.topic, b.key, b.raw[:i] + b.raw[i + rng.randint(1, 8) :])

    def _digits(self, b: _Base) -> Hostile:
        """A run of digits rewritten: still JSON, often still the contract, other figures."""
        rng = self.rng
        raw = b.raw
        starts = [i for i in range(len(raw)) if raw[i : i + 1].isdigit() and not raw[i - 1 : i].isdigit()]
        if not starts:
            return self._bitflip(b)
        i = rng.choice(starts)
        j = i
        while raw[j : j + 1].isdigit():
            j += 1
        new = rng.choice(
            (
                b"0",
                b"1",
                b"9" * rng.randint(1, 25),
                str(rng.randint(0, 10**6)).encode(),
                b"-" + raw[i:j],
                raw[i:j] + b".0",
                raw[i:j] + b"e1",
                b"00" + raw[i:j],
            )
        )
        return Hostile(b.topic, b.key, raw[:i] + new + raw[j:])

    def _splice(self, b: _Base) -> Hostile:
        rng = self.rng
        o = self._base(rng.choice(self.topics))
        i, j = rng.randrange(len(b.raw)), rng.randrange(len(o.raw))
        return Hostile(b.topic, rng.choice((b.key, o.key)), b.raw[:i] + o.raw[j:])

    def _concat(self, b: _Base) -> Hostile:
        rng = self.rng
        o = self._base()
        sep = rng.choice((b"", b"\n", b" ", b",", b"\x00"))
        value = rng.choice((b.raw + sep + o.raw, b"[" + b.raw + b"," + o.raw + b"]", b.raw * 2))
        return Hostile(b.topic, b.key, value)

    def _pad(self, b: _Base) -> Hostile:
        """Whitespace inside the object up to the size limit, on it, or one byte beyond."""
        rng = self.rng
        target = self.max_bytes + rng.choice((-1, 0, 0, 1, 1000))
        pad = max(0, target - len(b.raw))
        return Hostile(b.topic, b.key, b.raw[:-1] + b" " * pad + b.raw[-1:])

    def _wrap(self, b: _Base) -> Hostile:
        rng = self.rng
        raw = b.raw
        value = rng.choice(
            (
                b"\xef\xbb\xbf" + raw,
                raw.decode().encode("utf-16"),
                raw + b"\x00",
                b"\x00" + raw,
                b"",
                b" ",
                b"null",
                b"[]",
                b'"' + raw + b'"',
                json.dumps(raw.decode()).encode(),
                raw.replace(b'"', b"'"),
                raw + b"}",
                b"{" + raw,
                # control bytes are valid UTF-8 but not JSON: a dead letter escapes
                # each as six characters
                raw[:-1] + b',"pad":"' + b"\x01" * 20_000 + b'"}',
            )
        )
        return Hostile(b.topic, b.key, value)
