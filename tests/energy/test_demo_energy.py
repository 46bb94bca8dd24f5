"""`greenpulse demo` shows every energy figure non-trivially once its backfill is in."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_demo import Demo

pytestmark = pytest.mark.slow
BASE = "/api/v1/sites/guian/energy"


def test_demo_energy_figures_are_all_non_trivial(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    demo.start("--backfill-hours", "4")
    try:
        token = demo.wait_for(r"wall screen: http://\S+\?token=(\S+)", 60).group(1)
        read = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{demo.port}", timeout=30) as http:
            savings = _wait_for_savings(http, read)
            assert savings["valid"] and savings["baseline_source"] == "energy_file"
            assert savings["total"]["kwh"] != 0
            assert Decimal(savings["total"]["money"]["amount"]) != 0
            assert savings["total"]["kgce"] != 0 and savings["total"]["co2_kg"] != 0

            baseline = http.get(f"{BASE}/baseline", headers=read).json()
            assert baseline["valid"] and baseline["n"] == 12 and baseline["r_squared"] > 0.75

            cost = http.get(f"{BASE}/cost", headers=read).json()
            assert Decimal(cost["energy_cost"]["amount"]) > 0 and cost["illustrative"]
            assert {line["period"] for line in cost["by_tou_period"]} >= {"valley"}

            kgce = http.get(f"{BASE}/comprehensive", headers=read).json()
            assert kgce["total_kgce"] > 0 and kgce["kgce_per_unit"] is not None

            card = http.get(f"{BASE}/scorecard/live", headers=read).json()
            scores = {s["id"]: s["score"] for s in card["months"][0]["scores"]}
            assert all(score is not None for score in scores.values()), scores

            targets = http.get(f"{BASE}/targets", headers=read).json()["targets"]
            assert targets and all(t["actual"] is not None for t in targets)

            enpi = http.get(f"{BASE}/enpi", headers=read).json()
            assert enpi["enpis"][0]["reporting_per_unit"] is not None
            assert enpi["enpis"][0]["improvement"] is not None
        demo.stop()
    finally:
        demo.kill()


def _wait_for_savings(http: httpx.Client, read: dict[str, str]) -> dict[str, Any]:
    """Savings per hour once at least three backfilled hours are in the rollups."""
    deadline = time.monotonic() + 120
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = http.get(f"{BASE}/savings", params={"granularity": "hour"}, headers=read)
        assert response.status_code == 200, response.text
        last = response.json()
        if len(last["periods"]) >= 3:
            return last
        time.sleep(2)
    raise AssertionError(f"no hourly savings within 120 s: {last}")
