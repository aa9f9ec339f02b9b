"""Hostile inputs from valid events: structure-aware and byte-level mutations, of input
events and of registry records (producers/hostile/feed.py)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from monitor.contract import FIGURE_FIELDS, MAX_COUNT, MAX_SEQ, MAX_TOKEN, MAX_VERSION, SOURCES
from producers.hostile.bytes import ByteMutations
from producers.hostile.registry import RegistryMutations
from producers.hostile.values import (
    ENUMS,
    INPUT_TOPICS,
    LONE_SURROGATES,
    MAX_BYTES,
    NUMBERS,
    RAW_NUMBERS,
    TIMES,
    TYPES,
    UNICODE_SUFFIXES,
    V_VALUES,
    WHOLE,
    WRONG_FOR_INT,
    WRONG_FOR_OBJECT,
    WRONG_FOR_STR,
    Hostile,
    _at,
    _Base,
    _class_of,
    _object_text,
    _parent,
    _paths,
    _Raw,
    dumps,
    nested,
)


class HostileInputs(ByteMutations, RegistryMutations):
    """Hostile inputs from the valid events of ``election`` (a
    :class:`producers.elections.synthetic.Election`), naming only the stations and units of ``recs``."""

    def __init__(
        self, election: Any, *, seed: int = 0, recs: list[str] | None = None, max_bytes: int = MAX_BYTES
    ) -> None:
        self.rng = random.Random(f"tabmon-hostile/{seed}")
        self.max_bytes = max_bytes
        self.parties = tuple(election.parties)
        stations = [r for r in election.registry if r["type"] == "station"]
        self.recs = sorted(recs if recs is not None else {s["rec_id"] for s in stations})
        wanted = set(self.recs)
        self.records = [
            r
            for r in election.registry
            if r["type"] == "ballot"
            or r.get("rec_id") in wanted
            or r.get("unit_id") in wanted
            or r.get("parent_id") in wanted
        ]
        self.stations = [s["station_id"] for s in stations if s["rec_id"] in wanted]
        self.tecs = sorted({s["tec_id"] for s in stations if s["rec_id"] in wanted})
        if not self.stations:
            raise ValueError(f"no station in the RECs {self.recs}")
        self.bases: dict[str, list[_Base]] = {t: [] for t in INPUT_TOPICS}
        for e in election.events:
            unit = e.value.get("station_id") or e.value.get("unit_id")
            if unit != "KZ" and unit.split("-")[0] not in wanted:
                continue
            raw = orjson.dumps(e.value)
            self.bases[e.topic].append(_Base(e.topic, e.key.encode(), raw, unit))
            if e.topic == "evote":  # as the worker forwards it, keyed by its voter token
                token = e.value["voter_token"]
                self.bases["evote-tokens"].append(_Base("evote-tokens", token.encode(), raw, token))
        self.topics = [t for t in INPUT_TOPICS if self.bases[t]]
        m = max_bytes
        # large values, encoded once: strings around the size limit, long lists, wide objects
        self._sized = [
            _Raw(json.dumps(v, ensure_ascii=a))
            for v, a in (
                ("x" * 1_000, True),
                ("x" * 16_384, True),
                ("x" * 60_000, True),
                ("x" * (m - 300), True),
                ("x" * m, True),
                ("é" * 10_000, True),
                ("é" * 30_000, False),
                ("\x00" * 10_000, True),
                (list(range(1_000)), True),
                (list(range(10_000)), True),
                (["ALR-1"] * 5_000, True),
                ({f"k{i}": i for i in range(2_000)}, True),
                ([[]] * 20_000, True),
            )
        ]
        # how often each topic is the base: a protocol has the most fields to get wrong
        self.topic_weights = [
            {"turnout": 3, "protocols": 4, "summaries": 1, "evote": 2, "evote-tokens": 1}[t]
            for t in self.topics
        ]
        self.structure: dict[str, Callable[[dict[str, Any], _Base], Any]] = {
            "wrong_type": self._wrong_type,
            "size": self._size,
            "nesting": self._nesting,
            "unicode": self._unicode,
            "number": self._number,
            "time": self._time,
            "id": self._id,
            "missing": self._missing,
            "extra": self._extra,
            "duplicate_key": self._duplicate,
            "version_field": self._v,
            "type_field": self._type,
        }
        families: dict[str, tuple[int, Callable[[_Base], Hostile]]] = {
            **{name: (6, self._structural(name)) for name in self.structure},
            "combo": (6, self._combo),
            "key": (5, self._key),
            "value_none": (1, self._value_none),
            "topic": (3, self._topic),
            "restate": (3, self._restate),
            "change": (4, self._change),
            "bitflip": (6, self._bitflip),
            "truncate": (4, self._truncate),
            "insert": (5, self._insert),
            "delete": (3, self._delete),
            "digits": (5, self._digits),
            "splice": (4, self._splice),
            "concat": (2, self._concat),
            "pad": (2, self._pad),
            "wrap": (2, self._wrap),
        }
        self.names = list(families)
        self.makers = [families[n][1] for n in self.names]
        acc, self.cum_weights = 0, []
        for n in self.names:
            acc += families[n][0]
            self.cum_weights.append(acc)

    # -- drawing ----------------------------------------------------------------------------
    def labelled(self, n: int) -> Iterator[tuple[str, Hostile]]:
        """``n`` hostile inputs, each with the name of the mutation that made it."""
        rng, names, makers, cw = self.rng, self.names, self.makers, self.cum_weights
        idx = range(len(names))
        for _ in range(n):
            i = rng.choices(idx, cum_weights=cw)[0]
            yield names[i], makers[i](self._base())

    def inputs(self, n: int) -> Iterator[Hostile]:
        for _, h in self.labelled(n):
            yield h

    def _base(self, topic: str | None = None) -> _Base:
        rng = self.rng
        if topic is None:
            topic = rng.choices(self.topics, weights=self.topic_weights)[0]
        return rng.choice(self.bases[topic])

    def _doc(self, b: _Base) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(b.raw)  # a fresh copy, faster than deepcopy
        return doc

    def _out(self, b: _Base, doc: Any, key: bytes | None = None, topic: str | None = None) -> Hostile:
        return Hostile(topic or b.topic, b.key if key is None else key, self._encode(doc))

    def _encode(self, doc: dict[str, Any]) -> bytes:
        if WHOLE in doc:  # the message is one object written by hand (a key twice)
            return dumps(doc[WHOLE])
        return dumps(doc, ascii_only=self.rng.random() < 0.7)

    # -- structure-aware: one field ---------------------------------------------------------
    def _structural(self, name: str) -> Callable[[_Base], Hostile]:
        mutate = self.structure[name]

        def make(b: _Base) -> Hostile:
            doc = self._doc(b)
            key = mutate(doc, b)
            return self._out(b, doc, key if isinstance(key, bytes) else None)

        return make

    def _field(self, doc: dict[str, Any], cls: str | None = None) -> tuple[str, ...]:
        paths = _paths(doc)
        if not paths:  # every field already mutated away: add one
            return ("v",)
        if cls is not None:
            of_class = [p for p in paths if _class_of(p) == cls]
            if of_class:
                return self.rng.choice(of_class)
        return self.rng.choice(paths)

    def _pick(self, pool: tuple[Any, ...]) -> Any:
        """A value of a pool, a fresh copy when it is a list or an object: a later mutation
        of the same message may add to it, and must not change the pool."""
        value = self.rng.choice(pool)
        return copy.deepcopy(value) if type(value) in (dict, list) else value

    def _set(self, doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
        _parent(doc, path)[path[-1]] = value

    def _wrong_type(self, doc: dict[str, Any], b: _Base) -> None:
        path = self._field(doc)
        cls = _class_of(path)
        pool = WRONG_FOR_INT if cls == "int" else WRONG_FOR_OBJECT if cls == "object" else WRONG_FOR_STR
        self._set(doc, path, self._pick(pool))

    def _size(self, doc: dict[str, Any], b: _Base) -> None:
        rng = self.rng
        if rng.random() < 0.2:  # an id of 60 KB, in a message still under the limit
            value: Any = b.sid + "9" * 60_000
        else:
            value = rng.choice(self._sized)
        self._set(doc, self._field(doc), value)

    def _nesting(self, doc: dict[str, Any], b: _Base) -> None:
        rng = self.rng
        depth = rng.choice((2, 64, 255, 256, 999, 1000, 1022, 1023, 1024, 5_000, 30_000))
        inner = rng.choice(("", "1", '"x"', "null", '{"registered":1}'))
        kind = rng.choice(("list", "dict"))
        self._set(doc, self._field(doc), _Raw(nested(depth, kind, inner if kind == "list" else "")))

    def _unicode(self, doc: dict[str, Any], b: _Base) -> None:
        rng = self.rng
        path = self._field(doc, rng.choice(("id", "time", "enum", "int")))
        cur = _parent(doc, path)[path[-1]]
        text = cur if isinstance(cur, str) else str(cur)
        variants: list[Callable[[], Any]] = [
            lambda: text + rng.choice(UNICODE_SUFFIXES),
            lambda: rng.choice(UNICODE_SUFFIXES) + text,
            lambda: _Raw(rng.choice(LONE_SURROGATES)),
            lambda: text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
            lambda: text.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            lambda: text.translate(str.maketrans("AEKMHOPCTX", "АЕКМНОРСТХ")),  # Cyrillic look-alikes
            lambda: text.lower(),
            lambda: text[:1] + "\u200b" + text[1:],
            lambda: "\u202e" + text[::-1],
        ]
        self._set(doc, path, rng.choice(variants)())

    def _number(self, doc: dict[str, Any], b: _Base) -> None:
        rng = self.rng
        value = rng.choice(NUMBERS) if rng.random() < 0.65 else _Raw(rng.choice(RAW_NUMBERS))
        self._set(doc, self._field(doc, "int"), value)

    def _time(self, doc: dict[str, Any], b: _Base) -> None:
        self._set(doc, self._field(doc, "time"), self.rng.choice(TIMES))

    def _ids(self, cur: str) -> list[Any]:
        rng = self.rng
        cur = cur[:64]  # the id may be a mutation already (60 KB): keep the variants near the limit
        rec = cur.split("-")[0]
        other = rng.choice(self.stations)
        return [
            "SKZ-T:KZ",
            f"{cur}:x",
            "a/b",
            f"{cur}/{cur}",
            cur.replace("-", " "),
            cur + " ",
            " " + cur,
            cur + "\n",
            cur + "\r\n",
            cur + "\x00",
            "\u200f" + cur,
            cur + "\u202e",
            cur.lower(),
            "",
            "KZ",
            "KZ\n",
            other,
            f"{rec}-99999",
            f"{rec}-0{cur.split('-')[-1]}",
            rng.choice(self.tecs),
            rec,
            cur + "\ud800",
            cur * 200,
            "S" * 60_000,
            "*",
            "%s%n",
            "${jndi:ldap://x/a}",
            "../../etc/passwd",
            "<script>alert(1)</script>",
            "'; DROP TABLE stations; --",
            "\\",
            '"',
            "tabmon:unit:KZ",
            f"{rec}-T01:station:{cur}",
            "ALR-811\n",
            "ALR-811:x",
            "-".join([rec] * 3),
            f"{rec}-1e3",
            f"{rec}--1",
            f"{rec}-{2**64}",
            "x" * (MAX_TOKEN + 1),
            "a b",
            "\x7f",
        ]

    def _id(self, doc: dict[str, Any], b: _Base) -> bytes | None:
        path = self._field(doc, "id")
        cur = _parent(doc, path)[path[-1]]
        new = self.rng.choice(self._ids(cur if isinstance(cur, str) else b.sid))
        self._set(doc, path, new)
        if self.rng.random() < 0.5:  # the key follows the id: the contract sees the id itself
            return new.encode("utf-8", "surrogatepass")
        return None

    def _missing(self, doc: dict[str, Any], b: _Base) -> None:
        path = self._field(doc)
        _parent(doc, path).pop(path[-1], None)

    def _extra(self, doc: dict[str, Any], b: _Base) -> None:
        rng = self.rng
        objects = [(), *(p for p in _paths(doc) if type(_at(doc, p)) is dict)]
        target = _at(doc, rng.choice(objects))
        name = rng.choice(
            (
                "extra",
                "__proto__",
                "constructor",
                "v ",
                "type ",
                "",
                "\x00",
                "Type",
                "VOTES",
                "votes",
                self.parties[0] + " ",
                "Нур Отан",
                "\ud800",
                rng.choice(self.parties),
                "figures",
                "x" * 10_000,
            )
        )
        # an unknown field is ignored whatever it holds: deep nesting there is accepted
        target[name] = self._pick(
            (
                *NUMBERS[:8],
                *WRONG_FOR_STR,
                "\u202e",
                "x" * 1000,
                _Raw(nested(1000)),
                _Raw(nested(300, "dict")),
            )
        )

    def _duplicate(self, doc: dict[str, Any], b: _Base) -> bytes | None:
        """The object at a random path is written with one of its keys twice."""
        rng = self.rng
        path = self._field(doc)
        parent = _parent(doc, path)
        name = path[-1]
        other = self._pick((*NUMBERS[:12], *WRONG_FOR_INT, *TIMES[:4], b.sid + "\n", None))
        pairs = list(parent.items())
        if rng.random() < 0.5:
            pairs.append((name, other))  # the later one wins in most parsers
        else:
            pairs.insert(0, (name, other))
        text = _object_text(pairs)
        if len(path) == 1:
            doc.clear()
            doc[WHOLE] = text
        else:
            _parent(doc, path[:-1])[path[-2]] = text
        return None

    def _v(self, doc: dict[str, Any], b: _Base) -> None:
        if self.rng.random() < 0.15:
            doc.pop("v", None)
        else:
            doc["v"] = self._pick(V_VALUES)

    def _type(self, doc: dict[str, Any], b: _Base) -> None:
        rng = self.rng
        if rng.random() < 0.1:
            doc.pop("type", None)
            return
        path = self._field(doc, "enum")
        self._set(doc, path, self._pick(TYPES if path[-1] == "type" else ENUMS))

    def _combo(self, b: _Base) -> Hostile:
        rng = self.rng
        doc = self._doc(b)
        key = None
        for name in rng.sample(list(self.structure), rng.randint(2, 4)):
            if name == "duplicate_key":  # it writes the object by hand: last, or not at all
                continue
            got = self.structure[name](doc, b)
            key = got if isinstance(got, bytes) else key
        return self._out(b, doc, key)

    # -- structure-aware: the message -------------------------------------------------------
    def _keys(self, b: _Base) -> list[bytes | None]:
        other = self.rng.choice(self.stations).encode()
        return [
            None,
            b"",
            other,
            b.key + b"\n",
            b.key + b"\x00",
            b"\xff\xfe\xfd",
            b.key.lower(),
            b" " + b.key,
            b.key * 2,
            b"k" * 60_000,
            self.rng.choice(self.tecs).encode(),
            b"KZ",
            b.key + b":x",
            b.key.decode().replace("-", "\u2010").encode(),
            b"\xed\xa0\x80",
        ]

    def _key(self, b: _Base) -> Hostile:
        return Hostile(b.topic, self.rng.choice(self._keys(b)), b.raw)

    def _value_none(self, b: _Base) -> Hostile:
        # Kafka clients send a null key and a null value together only on request (librdkafka
        # does, kafka-python refuses): both are possible on the wire
        return Hostile(b.topic, self.rng.choice((b.key, b.key, None)), None)

    def _topic(self, b: _Base) -> Hostile:
        topic = self.rng.choice([t for t in INPUT_TOPICS if t != b.topic])
        return Hostile(topic, b.key, b.raw)

    def _restate(self, b: _Base) -> Hostile:
        """The same event, encoded another way a JSON parser must read as the same: a valid
        duplicate, which must change nothing."""
        rng = self.rng
        doc = self._doc(b)
        how = rng.randrange(5)
        if how == 0:
            return Hostile(b.topic, b.key, dumps(doc, indent=rng.choice((1, 2, 4))))
        if how == 1:
            items = list(doc.items())
            rng.shuffle(items)
            return Hostile(b.topic, b.key, dumps(dict(items)))
        if how == 2:  # every letter of the strings as a \u escape
            text = b.raw.decode()
            out, in_str, esc = [], False, False
            for ch in text:
                if in_str and not esc and ch.isalpha():
                    out.append(f"\\u{ord(ch):04x}")
                    continue
                out.append(ch)
                if ch == '"' and not esc:
                    in_str = not in_str
                esc = ch == "\\" and not esc
            return Hostile(b.topic, b.key, "".join(out).encode())
        if how == 3:
            return Hostile(b.topic, b.key, rng.choice((b" ", b"\n", b"\t", b"\r\n")) + b.raw + b"\n")
        doc["comment"] = rng.choice(("\u202e", "é" * 100, {"nested": [1, {"x": None}]}, None))
        return Hostile(b.topic, b.key, dumps(doc, ascii_only=False))

    def _count(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.02:
            return MAX_COUNT
        if r < 0.05:
            return 0
        return rng.randint(0, 5_000)

    def _change(self, b: _Base) -> Hostile:
        """A valid event with other content: another figure, a later version, another station.
        The contract takes it; the tally must then be exact with it."""
        rng = self.rng
        doc = self._doc(b)
        key = b.key
        t = doc.get("type")
        if t in ("turnout", "protocol", "evote") and rng.random() < 0.3:
            sid = rng.choice(self.stations)
            doc["station_id"] = sid
            key = sid.encode() if b.topic != "evote-tokens" else key
        if t == "turnout":
            doc["seq"] = rng.choice((1, 2, 6, 7, MAX_SEQ, rng.randint(1, MAX_SEQ)))
            for f in ("registered", "added", "voted"):
                doc[f] = self._count()
        elif t in ("protocol", "summary"):
            doc["version"] = rng.choice((1, 2, doc["version"], MAX_VERSION, rng.randint(1, 20)))
            if t == "protocol":
                doc["source"] = rng.choice(SOURCES)
            figs = doc["figures"]
            for f in rng.sample(FIGURE_FIELDS, rng.randint(1, len(FIGURE_FIELDS))):
                figs[f] = self._count()
            for p in rng.sample(self.parties, rng.randint(1, len(self.parties))):
                figs["votes"][p] = self._count()
        elif t == "evote":
            if b.topic == "evote-tokens" or rng.random() < 0.3:  # the same token at another time
                doc["issued_at"] = rng.choice(("2007-08-18T19:59:59+06:00", "2007-08-18T08:00:00+06:00"))
            else:
                doc["voter_token"] = f"{rng.getrandbits(128):032x}"
        return Hostile(b.topic, key, dumps(doc))
