"""`greenpulse demo` shows every energy figure non-trivially once its backfill is in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_demo import _free_port, _wait_for_line

pytestmark = pytest.mark.slow
BASE = "/api/v1/sites/guian/energy"


def test_demo_energy_figures_are_all_non_trivial(tmp_path: Path) -> None:
    port, mqtt_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENPULSE_")}
    command = "from app.commands.cli import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            command,
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
            "--backfill-hours",
            "4",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token = _wait_for_line(proc, r"wall screen: http://\S+\?token=(\S+)", 60).group(1)
        read = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
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
        proc.send_signal(signal.SIGINT)
        _wait_for_line(proc, r"GreenPulse demo stopped", 30)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


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
