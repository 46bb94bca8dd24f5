"""A long fuzz run of the decoder, outside CI: ``python -m bench.fuzz_decoder``.

Two engines, each for ``--seconds``:

* mutation: good payloads (single readings and gateway batches) with bytes flipped,
  cut, repeated and spliced, and the hostile messages of ``ingest.hostile``;
* hypothesis: structured hostile JSON (any types in any field) and raw bytes, with
  shrinking, so a failure comes out as a small example.

Every message must decode without raising, and every rejection must be storable (no
NUL, no lone surrogate, within its column) with a known reason and no
``internal_error``. Prints a summary by reason; exits 1 on the first failure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.plant.file import load_plant
from ingest.decode import DETAIL_MAX, METER_ID_MAX, TOPIC_MAX, PlantIndex, Reason, decode, reasons
from ingest.hostile import hostile_message, mutations

INDEX = PlantIndex.from_plant(load_plant())
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
READING = "greenpulse/guian/el-grid-in-1/reading"
BATCH = "greenpulse/guian/gateway/gw-1/batch"
SEEDS = [
    (READING, b'{"ts": "2026-11-22T10:15:00+08:00", "value": 12345.6, "unit": "kWh", "seq": 7}'),
    (
        BATCH,
        b'{"gateway": "gw-1", "readings": [{"meter": "el-grid-in-1", "ts": 1795312500000, '
        b'"value": 1.5, "unit": "MWh"}, {"meter": "pv-inv-05", "ts": "2026-11-22T02:15:00Z", '
        b'"value": 2210.4, "unit": "kW"}]}',
    ),
]
REASONS = set(reasons())
seen: Counter[str] = Counter()


def check(topic: str, payload: bytes) -> None:
    readings, rejections = decode(topic, payload, INDEX, NOW)
    for r in rejections:
        seen[r.reason] += 1
        assert r.reason in REASONS and r.reason != Reason.INTERNAL_ERROR, r.detail
        for text in (r.topic, r.detail, r.meter_id or ""):
            assert "\x00" not in text, text
            text.encode("utf-8")
        assert len(r.topic) <= TOPIC_MAX and len(r.detail) <= DETAIL_MAX
        assert r.meter_id is None or len(r.meter_id) <= METER_ID_MAX
    for reading in readings:
        seen["(reading)"] += 1
        assert 0 <= reading.raw_value < float("inf")
        reading.meter_id.encode("utf-8")
        reading.raw_unit.encode("utf-8")


def mutation_run(seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    streams = [(topic, mutations(rng, payload)) for topic, payload in SEEDS]
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        for _ in range(1000):
            if rng.random() < 0.5:
                topic, stream = rng.choice(streams)
                check(topic, next(stream))
            else:
                check(*hostile_message(rng, "greenpulse", "guian", "el-grid-in-1"))
            count += 1
    return count


anything: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["\ud800", "\x00", "0001-01-01T00:00:00+14:00", 10**400, 1e306]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
field = st.sampled_from(["ts", "value", "unit", "seq", "meter", "readings", "gateway"])
bodies = st.dictionaries(field, anything, max_size=6)
entry_keys = st.sampled_from(["meter", "ts", "value", "unit", "seq"])
batches = st.lists(st.dictionaries(entry_keys, anything), max_size=5).map(
    lambda items: {"readings": items}
)


def _dump(value: object) -> bytes:
    try:
        return json.dumps(value).encode()
    except ValueError:
        return b"{}"


def hypothesis_run(seconds: float) -> int:
    """Rounds of 2,000 examples until ``seconds`` have passed (a failure raises, shrunk)."""
    calls = [0]

    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.sampled_from([READING, BATCH, "spBv1.0/g/NDATA/n", "greenpulse/a/b/c"]),
        st.one_of(bodies.map(_dump), batches.map(_dump), st.binary(max_size=400)),
    )
    def run(topic: str, payload: bytes) -> None:
        calls[0] += 1
        check(topic, payload)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run()
    return calls[0]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz_decoder", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="per engine")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    mutated = mutation_run(args.seconds, args.seed)
    print(f"mutation: {mutated} messages, {mutated / args.seconds:.0f}/s", flush=True)
    examples = hypothesis_run(args.seconds)
    print(f"hypothesis: {examples} examples", flush=True)
    print(f"total {time.monotonic() - started:.0f} s; outcomes:")
    for reason, count in seen.most_common():
        print(f"  {reason:20} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
