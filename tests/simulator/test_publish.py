"""Payloads and message grouping (no broker needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from app.domain.plant import Plant
from app.mqtt import batch_topic, reading_topic
from simulator.cli import simulate
from simulator.core import PlantSimulator
from simulator.publish import flood_readings, format_ts, messages, reading_payload

START = datetime(2026, 11, 22, 2, 15, tzinfo=UTC)


def readings(plant: Plant, minutes: int = 10) -> list:  # type: ignore[type-arg]
    sim = PlantSimulator(plant, seed=1, start=START)
    return sim.advance(START + timedelta(minutes=minutes))


def test_single_reading_payload_matches_the_contract(plant: Plant) -> None:
    r = readings(plant)[0]
    payload = reading_payload(r)
    assert set(payload) == {"ts", "value", "unit", "seq"}
    assert datetime.fromisoformat(payload["ts"]) == r.time
    assert payload["ts"].endswith("+08:00")
    assert payload["value"] == r.value
    assert payload["unit"] == r.unit
    assert payload["seq"] == r.seq


def test_timestamps_keep_milliseconds_only_when_there_are_any() -> None:
    zone = datetime(2026, 11, 22, 10, 15, tzinfo=UTC).astimezone().tzinfo
    assert format_ts(datetime(2026, 11, 22, 10, 15, tzinfo=UTC)) == "2026-11-22T10:15:00+00:00"
    assert (
        format_ts(datetime(2026, 11, 22, 10, 15, 0, 52000, tzinfo=UTC))
        == "2026-11-22T10:15:00.052+00:00"
    )
    assert zone is not None


def test_single_messages_use_the_reading_topic(plant: Plant) -> None:
    batch = readings(plant)
    out = list(messages(batch, prefix="gp"))
    assert len(out) == len(batch)
    for (topic, payload), r in zip(out, batch, strict=True):
        assert topic == reading_topic("gp", r.site_id, r.meter_id)
        assert json.loads(payload)["seq"] == r.seq


def test_batches_group_a_gateway_readings_in_order(plant: Plant) -> None:
    batch = readings(plant, minutes=30)
    out = list(messages(batch, prefix="gp", batch_size=7))
    assert len(out) < len(batch)
    seen = []
    for topic, payload in out:
        body = json.loads(payload)
        assert topic == batch_topic("gp", "guian", body["gateway"])
        assert 1 <= len(body["readings"]) <= 7
        for item in body["readings"]:
            assert set(item) == {"meter", "ts", "value", "unit", "seq"}
            seen.append((item["meter"], item["seq"]))
    assert sorted(seen) == sorted((r.meter_id, r.seq) for r in batch)
    by_meter: dict[str, list[int]] = {}
    for meter_id, seq in seen:
        by_meter.setdefault(meter_id, []).append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_meter.values())
    with pytest.raises(ValueError, match="batch_size"):
        list(messages(batch, prefix="gp", batch_size=0))


def test_flood_readings_are_unique_per_meter_and_time() -> None:
    out = list(flood_readings(7, 100, site_id="flood", start=START))
    assert len(out) == 100
    assert len({(r.meter_id, r.time) for r in out}) == 100
    assert len({r.meter_id for r in out}) == 7
    for meter_id in {r.meter_id for r in out}:
        values = [r.value for r in out if r.meter_id == meter_id]
        assert values == sorted(values)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("simulate")(simulate)
    app.command("noop")(lambda: None)
    return app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spike", "el-comp-01:3:60"], "spike"),
        (["--spike", "nowhere:3:60:60"], "no meter or area"),
        (["--trip", "el-comp-01:0:60"], "no PV meter"),
        (["--offline", "nope:0:60"], "no meter"),
        (["--plant-file", "/nonexistent/plant.yaml"], "cannot read"),
    ],
)
def test_cli_rejects_bad_options_before_connecting(args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        _app(), ["simulate", "--mqtt-url", "mqtt://127.0.0.1:9", *args], terminal_width=200
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
