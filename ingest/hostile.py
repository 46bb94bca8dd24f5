"""Hostile MQTT messages for fuzzing the ingester: what a broken or malicious gateway sends.

Seeded and deterministic (``random.Random``), so a failing run can be replayed. Used by
the fuzz test in the suite (``tests/ingest/test_fuzz.py``) and the longer decoder fuzz
run (``python -m bench.fuzz_decoder``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

_TIMES: tuple[Any, ...] = (
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00-14:00",
    "2026-13-01T00:00:00Z",
    "2026-11-22T02:15:00",
    "soon",
    "",
    10**400,
    -(10**30),
    1e308,
    -1,
    True,
    None,
    [],
    {},
    "\ud800",
    "2026-11-22T02:15:00Z\x00",
)
_VALUES: tuple[Any, ...] = (
    1e306,
    10**400,
    -1,
    -0.0001,
    "12",
    None,
    True,
    [1],
    {"v": 1},
    1e15,
    float("nan"),
    float("inf"),
)
_TEXT: tuple[str, ...] = ("\ud800", "a\x00b", "\udfff", "k" * 300, "", " ", "kWh\x00", "\ufeffkWh")
_UNITS: tuple[Any, ...] = ("parsecs", "kW", "MW", "mWh", 5, None, *_TEXT)
_METERS: tuple[Any, ...] = ("no-such-meter", "el-grid-in-1", 7, None, *_TEXT)


def hostile_message(rng: random.Random, prefix: str, site: str, meter: str) -> tuple[str, bytes]:
    """One message that must be refused as a whole: every reading in it is bad."""
    kind = rng.randrange(12)
    reading = f"{prefix}/{site}/{meter}/reading"
    batch = f"{prefix}/{site}/gateway/gw-fuzz/batch"
    good_ts = "2026-01-01T00:00:00Z"
    body: dict[str, Any] = {"ts": good_ts, "value": 1.0, "unit": "kWh"}
    if kind == 0:
        body["ts"] = rng.choice(_TIMES)
    elif kind == 1:
        body["value"] = rng.choice(_VALUES)
        body["ts"] = "2999-01-01T00:00:00Z" if body["value"] == 1e15 else body["ts"]
    elif kind == 2:
        body["unit"] = rng.choice(_UNITS)
    elif kind == 3:
        del body[rng.choice(["ts", "value", "unit"])]
    elif kind == 4:
        return reading, rng.randbytes(rng.randrange(1, 200))
    elif kind == 5:
        return reading, json.dumps(body).encode(rng.choice(["utf-16", "utf-32", "utf-8-sig"]))
    elif kind == 6:
        entries = [
            {"meter": rng.choice(_METERS), "ts": rng.choice(_TIMES), "value": 1, "unit": "kWh"}
            for _ in range(rng.randrange(1, 5))
        ]
        return batch, _dumps({"gateway": "gw-fuzz", "readings": entries})
    elif kind == 7:
        return batch, _dumps(rng.choice([{"readings": []}, {"readings": 5}, {}, [], "x"]))
    elif kind == 8:
        topic = rng.choice(
            [
                f"{prefix}/{site}/{meter}/foo",
                f"{prefix}/{site}",
                f"{prefix}/{site}/gateway/gw/batch/x",
                f"{prefix}/{rng.randrange(10**6)}/a/b/c/d/e",
            ]
        )
        return topic, _dumps(body)
    elif kind == 9:
        kind_sp = rng.choice(["NBIRTH", "NDATA", "DDATA"])  # an edge node of its own
        return f"spBv1.0/plant/{kind_sp}/edge-{rng.randrange(10**9)}", rng.randbytes(40)
    elif kind == 10:
        return reading, b"[" * rng.randrange(1000, 60_000)
    else:
        body["seq"] = rng.choice([-1, 2**31, 10**400, 1.5, "1"])
    return reading, _dumps(body)


def _dumps(value: object) -> bytes:
    """JSON with lone surrogates escaped (as a gateway's JSON library would write them)."""
    return json.dumps(value).encode()


def mutations(rng: random.Random, payload: bytes) -> Iterator[bytes]:
    """Byte-level mutations of a payload: flips, cuts, duplications, insertions."""
    while True:
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 4)):
            if not data:
                break
            i = rng.randrange(len(data))
            op = rng.randrange(4)
            if op == 0:
                data[i] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[i : i + rng.randrange(1, 8)]
            elif op == 2:
                data[i:i] = data[i : i + rng.randrange(1, 16)]
            else:
                data[i:i] = rng.choice([b"\x00", b"\xff", b"\\ud800", b"9" * 400, b'"', b"{"])
        yield bytes(data)


_SP_TYPES = ("NBIRTH", "NDATA", "DBIRTH", "DDATA", "NDEATH", "DDEATH")


def hostile_sparkplug(rng: random.Random, index: int) -> tuple[str, bytes]:
    """One hostile Sparkplug B message on an edge node of its own (``fuzz/fz-{index}``).

    Its own node, so what the host makes of it does not depend on the messages around
    it: random and mutated protobuf, births without names or with an alias twice, data
    before any birth, huge aliases, absurd datatypes, bad topics, oversized payloads.
    """
    from ingest.sparkplug.proto import Payload  # the protobuf bindings, only when fuzzing

    node = f"fz-{index}"
    kind = rng.choice(_SP_TYPES)
    topic = f"spBv1.0/fuzz/{kind}/{node}" + ("/dev" if kind.startswith("D") else "")
    payload = Payload(
        timestamp=rng.choice([0, 1, 2**63, 1_796_000_000_000]), seq=rng.randrange(300)
    )
    for i in range(rng.randrange(1, 6)):
        metric = payload.metrics.add()
        if rng.random() < 0.6:
            metric.name = rng.choice(["", "Energy/Import", "bdSeq", "a\x00b", "x" * 300, f"m{i}"])
        metric.alias = rng.choice([0, 1, 1, 2**64 - 1, rng.randrange(2**32)])
        metric.datatype = rng.choice([0, 1, 4, 9, 10, 11, 12, 99, 2**32 - 1])
        value = rng.randrange(4)
        if value == 0:
            metric.double_value = rng.choice([float("nan"), float("inf"), -1.0, 1e308])
        elif value == 1:
            metric.long_value = rng.choice([0, 2**64 - 1, 2**63])
        elif value == 2:
            metric.string_value = rng.choice(["", "\ud7ff", "12"])
        else:
            metric.is_null = True
    data = payload.SerializeToString()
    shape = rng.randrange(6)
    if shape == 0:
        return topic, rng.randbytes(rng.randrange(1, 300))
    if shape == 1:
        return topic, next(mutations(rng, data))
    if shape == 2:
        return rng.choice([f"spBv1.0/fuzz/FOO/{node}", "spBv1.0/fuzz", f"spBv1.0/{node}"]), data
    if shape == 3:
        return topic, data + b"\x00" * 300_000  # over the payload limit
    if shape == 4:
        return topic, data.replace(b"Energy", b"\xff\xfe\xfd\xfc\xfb\xfa")  # invalid UTF-8
    return topic, data
