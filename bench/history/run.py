"""History at a year of 15-minute data for the demo plant, through the real API.

A throwaway PostgreSQL database gets the demo plant and, for every meter, a year of
15-minute readings (``COPY``) with the rollups GreenPulse keeps for them (fine buckets
and site-local days, computed the way the writer spreads interval-ending readings).
Then each history request runs ``--repeat`` times through ``create_app()`` and the
median and worst wall times are printed with the load average.

    .venv/bin/python -m bench.history.run [--timescaledb] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import psycopg
from fastapi.testclient import TestClient

from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.history.queries import DAY_RESOLUTION, FINE_RESOLUTION
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant

ADMIN = os.environ.get("GREENPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 1 Jan 2026, Asia/Shanghai
STEP_S = 900
LOCAL_OFFSET_S = 8 * 3600  # Asia/Shanghai keeps +08:00 all year
TOKENS = Tokens("bench-write", "bench-read")
REQUESTS = [
    (
        "year by month, site",
        {"zoom": "month", "start": "2025-12-31T16:00:00Z", "end": "2026-12-31T16:00:00Z"},
    ),
    (
        "year by week, site",
        {"zoom": "week", "start": "2025-12-31T16:00:00Z", "end": "2026-12-31T16:00:00Z"},
    ),
    (
        "year by day, site",
        {"zoom": "day", "start": "2025-12-31T16:00:00Z", "end": "2026-12-31T16:00:00Z"},
    ),
    (
        "year by month, site, no cost",
        {
            "zoom": "month",
            "cost": "false",
            "start": "2025-12-31T16:00:00Z",
            "end": "2026-12-31T16:00:00Z",
        },
    ),
    (
        "year by day, site, no cost",
        {
            "zoom": "day",
            "cost": "false",
            "start": "2025-12-31T16:00:00Z",
            "end": "2026-12-31T16:00:00Z",
        },
    ),
    (
        "year by month, area utilities",
        {
            "zoom": "month",
            "area": "utilities",
            "start": "2025-12-31T16:00:00Z",
            "end": "2026-12-31T16:00:00Z",
        },
    ),
    (
        "month by hour, site",
        {"zoom": "hour", "start": "2026-05-31T16:00:00Z", "end": "2026-06-30T16:00:00Z"},
    ),
    (
        "day by 15 min, site",
        {"zoom": "15min", "start": "2026-06-14T16:00:00Z", "end": "2026-06-15T16:00:00Z"},
    ),
    (
        "2 h by minute, meter",
        {
            "zoom": "minute",
            "meter": "el-grid-in-1",
            "start": "2026-06-15T02:00:00Z",
            "end": "2026-06-15T04:00:00Z",
        },
    ),
    (
        "month vs same month last year",
        {"zoom": "day", "period": "this_month", "compare": "year_before"},
    ),
]


def _database(timescale: bool) -> str:
    name = f"gp_bench_history_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def _seed(url: str, timescale: bool) -> int:
    engine = make_engine(url)
    migrate.upgrade(engine, timescaledb=timescale)
    plant = load_plant()
    sync_plant(make_sessionmaker(engine), plant)
    engine.dispose()
    n = int(365 * 86400 / STEP_S)
    ends = (int(YEAR_START.timestamp()) + STEP_S * np.arange(1, n + 1)).astype(np.int64)
    hours_of_day = ((ends - 1 + LOCAL_OFFSET_S) // 3600) % 24
    fine_s = 3600 if FINE_RESOLUTION == "hour" else 900
    fine = (ends - 1) - (ends - 1) % fine_s
    day = (ends - 1 + LOCAL_OFFSET_S) - (ends - 1 + LOCAL_OFFSET_S) % 86400 - LOCAL_OFFSET_S
    rng = np.random.default_rng(7)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    rows = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for _, meter in plant.meters():
            shape = 1.0 + 0.3 * np.sin((hours_of_day - 6) / 24 * 2 * np.pi)
            quantity = np.round(shape * rng.uniform(5, 50) * rng.uniform(0.9, 1.1, n), 3)
            register = np.cumsum(quantity) / meter.multiplier
            with cur.copy(
                "COPY readings (meter_id, time, raw_value, raw_unit, value, quantity, quality, "
                "received_at) FROM STDIN"
            ) as copy:
                for t, r, q in zip(
                    ends.tolist(), register.tolist(), quantity.tolist(), strict=True
                ):
                    at = datetime.fromtimestamp(t, UTC)
                    copy.write_row((meter.id, at, r, meter.unit, r, q, 0, at))
            rows += n
            for resolution, buckets in ((FINE_RESOLUTION, fine), (DAY_RESOLUTION, day)):
                keys, inverse = np.unique(buckets, return_inverse=True)
                sums = np.bincount(inverse, weights=quantity)
                counts = np.bincount(inverse)
                with cur.copy(
                    "COPY rollups (meter_id, resolution, bucket_start, quantity, samples, "
                    "estimated) FROM STDIN"
                ) as copy:
                    for k, s, c in zip(keys.tolist(), sums.tolist(), counts.tolist(), strict=True):
                        copy.write_row(
                            (meter.id, resolution, datetime.fromtimestamp(k, UTC), s, c, 0)
                        )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timescaledb", action="store_true", help="hypertable readings")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    url = _database(args.timescaledb)
    try:
        began = time.perf_counter()
        readings = _seed(url, args.timescaledb)
        took = time.perf_counter() - began
        print(f"seeded {readings:,} readings with {FINE_RESOLUTION}/day rollups in {took:.1f} s")
        settings = Settings(
            database_url=url,
            factor_file=demo_plant_path().parent / "demo_factor_overrides.yaml",
            mqtt_url="mqtt://127.0.0.1:1",
        )
        now = datetime(2026, 6, 20, 4, 0, tzinfo=UTC)
        app = create_app(settings, tokens=TOKENS, clock=lambda: now)
        headers = {"Authorization": "Bearer bench-read"}
        with TestClient(app) as client:
            print(f"{'request':34} {'buckets':>7} {'median ms':>10} {'max ms':>8}")
            for name, params in REQUESTS:
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    response = client.get(
                        "/api/v1/sites/guian/history", params=params, headers=headers
                    )
                    times.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                buckets = len(response.json()["buckets"])
                print(
                    f"{name:34} {buckets:>7} {statistics.median(times):>10.1f} {max(times):>8.1f}"
                )
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
