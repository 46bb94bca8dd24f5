"""The ``greenpulse`` command: each subcommand loads only what it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.plant.file import demo_plant_path, load_plant

PROBE = """
import json, sys
from typer.testing import CliRunner
from app.commands.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"simulator", "ingest", "uvicorn"})
print(json.dumps({"code": result.exit_code, "output": result.output, "loaded": loaded}))
"""


def _run(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_migrate_creates_the_schema_and_loads_neither_simulator_nor_ingester(
    tmp_path: Path,
) -> None:
    database = tmp_path / "gp.db"
    result = _run("migrate", "--database-url", f"sqlite:///{database}")
    assert result["code"] == 0, result["output"]
    plant = load_plant(demo_plant_path())
    meters = sum(len(s.meters) for s in plant.sites)
    assert "storage mode: sqlite" in str(result["output"])
    assert f"{meters} meters loaded" in str(result["output"])
    assert result["loaded"] == []
    assert database.exists()


def test_simulate_shows_the_simulators_own_options() -> None:
    result = _run("simulate", "--help")
    assert result["code"] == 0
    assert "--backfill-days" in str(result["output"]) and "--flood-meters" in str(result["output"])
    assert "greenpulse simulate" in str(result["output"])


def test_help_lists_every_process_without_loading_them() -> None:
    result = _run("--help")
    for command in ("demo", "serve", "ingest", "alerts", "simulate", "migrate"):
        assert command in str(result["output"])
    assert result["loaded"] == []
