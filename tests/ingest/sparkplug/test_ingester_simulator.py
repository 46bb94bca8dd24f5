"""``greenpulse simulate --sparkplug`` into the real ingester with the demo plant file as
shipped (its ``sparkplug:`` section): every reading published is stored once, none
refused, and the simulator's clean NDEATH puts every meter of the site offline."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.plant.file import load_plant
from ingest.broker import Mosquitto, free_port
from tests.ingest.conftest import REPO, Database, IngesterProcess, wait_until
from tests.ingest.sparkplug.test_ingester_peer_py import _connected, _offline, _reasons

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def test_simulate_sparkplug_through_the_real_ingester(
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
) -> None:
    db = make_database("postgresql")
    ingester = ingester_factory(
        db, mosquitto, client_id="gp-sp-sim", ingest_metrics_port=str(free_port())
    )
    wait_until(lambda: _connected(ingester), 30, "the ingester to connect")
    greenpulse = Path(sys.executable).parent / "greenpulse"
    run = subprocess.run(
        [
            str(greenpulse),
            "simulate",
            "--sparkplug",
            "--clean",
            "--speed=30",  # 4 simulated minutes in 8 s: inside the 5 min future limit
            "--duration=8",
            f"--mqtt-url=mqtt://127.0.0.1:{mosquitto.port}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    published = re.search(r"published (\d+) readings", run.stdout)
    assert published is not None, run.stdout + run.stderr
    readings = int(published.group(1))
    assert readings > 40
    site = load_plant().sites[0]
    wait_until(lambda: db.count() == readings, 30, f"{readings} readings stored")
    wait_until(lambda: len(_offline(db)) >= 30, 20, "the NDEATH in meter_state")
    assert _reasons(db) == {}
    with_state = {str(r[0]) for r in db.query("SELECT meter_id FROM meter_state")}
    assert set(_offline(db)) == with_state and with_state <= {m.id for m in site.meters}
    assert ingester.metric("greenpulse_ingest_sparkplug_unmapped_metrics") == 0
