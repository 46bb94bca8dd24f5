"""TimescaleDB upkeep: no continuous aggregates, and failing jobs seen by /readyz and /metrics."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import inspect, text

from app.db import migrate
from app.db.timescale import job_statuses
from tests.conftest import Backend
from tests.history.conftest import READ


async def test_readyz_and_metrics_show_failing_jobs(
    client: httpx.AsyncClient, clean_backend: Backend
) -> None:
    failed_sql = text(
        "SELECT job_id FROM timescaledb_information.job_stats WHERE last_run_status = 'Failed'"
    )
    if clean_backend.storage.hypertables:
        # the job-history retention job runs when the extension is created; wait for its run
        deadline = time.monotonic() + 30
        with clean_backend.engine.connect() as conn:
            while time.monotonic() < deadline:
                if job_statuses(conn, clean_backend.storage) and all(
                    s.total_runs > 0
                    for s in job_statuses(conn, clean_backend.storage)
                    if s.proc.startswith("policy_job_stat")
                ):
                    break
                await asyncio.sleep(0.5)
            failed = sorted(conn.execute(failed_sql).scalars())
    else:
        failed = []
    ready = (await client.get("/readyz")).json()
    jobs = ready["timescaledb_jobs"]
    assert sorted(j["job_id"] for j in jobs["failing"]) == failed
    assert ready["status"] == ("degraded" if failed else "ready")
    if clean_backend.storage.hypertables:
        assert jobs["jobs"] >= 1
        assert all(j["error"] for j in jobs["failing"])
    else:
        assert jobs == {"jobs": 0, "failing": []}
    metrics = (await client.get("/metrics", headers=READ)).text
    assert f"greenpulse_timescaledb_jobs_failing {float(len(failed))}" in metrics


@pytest.mark.parametrize("backend", ["timescaledb"], indirect=True)  # the only one with them
async def test_no_continuous_aggregates_are_left(
    client: httpx.AsyncClient, clean_backend: Backend
) -> None:
    assert clean_backend.storage.hypertables
    with clean_backend.engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM timescaledb_information.continuous_aggregates")
        ).scalar()
    assert count == 0


@pytest.mark.parametrize("fresh_backend", ["postgresql"], indirect=True)
def test_migration_drops_aggregates_an_older_revision_made(fresh_backend: Backend) -> None:
    engine = fresh_backend.engine
    migrate.upgrade(engine, "0003", timescaledb=False)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE MATERIALIZED VIEW readings_1h AS SELECT meter_id, "
                "date_trunc('hour', time) AS bucket, sum(quantity) AS quantity "
                "FROM readings GROUP BY 1, 2"
            )
        )
    assert "readings_1h" in inspect(engine).get_materialized_view_names()
    migrate.upgrade(engine, timescaledb=False)
    assert "readings_1h" not in inspect(engine).get_materialized_view_names()
