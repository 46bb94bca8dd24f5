"""Find out what the database can do: SQLite, PostgreSQL, or TimescaleDB (which licence)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, text


class StorageMode(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgresql"
    TIMESCALE_APACHE = "timescaledb-apache"
    TIMESCALE_COMMUNITY = "timescaledb-community"


@dataclass(frozen=True)
class StorageInfo:
    mode: StorageMode
    reason: str
    timescaledb_version: str | None = None

    @property
    def hypertables(self) -> bool:
        return self.mode in {StorageMode.TIMESCALE_APACHE, StorageMode.TIMESCALE_COMMUNITY}

    @property
    def policies(self) -> bool:
        """Compression and retention policies (the community licence only)."""
        return self.mode is StorageMode.TIMESCALE_COMMUNITY


def detect_storage(conn: Connection) -> StorageInfo:
    """Inspect ``pg_extension`` and ``timescaledb.license`` and say which mode runs and why."""
    if conn.dialect.name == "sqlite":
        return StorageInfo(StorageMode.SQLITE, "embedded SQLite database")
    if conn.dialect.name != "postgresql":
        raise RuntimeError(f"unsupported database dialect {conn.dialect.name!r}")
    installed = conn.execute(
        text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if installed is None:
        available = conn.execute(
            text("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")
        ).scalar()
        if available is None:
            why = "the timescaledb extension is not installed on this server"
        else:
            preloaded = conn.execute(text("SELECT current_setting('shared_preload_libraries')"))
            needs = (
                "it was not requested (--no-timescaledb)"
                if "timescaledb" in str(preloaded.scalar())
                else "it needs shared_preload_libraries = 'timescaledb'"
            )
            why = f"timescaledb {available} is available but not created in this database: {needs}"
        return StorageInfo(
            StorageMode.POSTGRES, f"plain PostgreSQL: {why}; rollups kept by GreenPulse"
        )
    licence = conn.execute(text("SELECT current_setting('timescaledb.license', true)")).scalar()
    if licence == "timescale":
        return StorageInfo(
            StorageMode.TIMESCALE_COMMUNITY,
            f"TimescaleDB {installed}, community licence: hypertable, compression and "
            "retention policies; rollups kept by GreenPulse",
            installed,
        )
    return StorageInfo(
        StorageMode.TIMESCALE_APACHE,
        f"TimescaleDB {installed}, {licence or 'apache'} licence: hypertable and time_bucket; "
        "rollups kept by GreenPulse",
        installed,
    )


def try_create_extension(conn: Connection) -> str | None:
    """Create the timescaledb extension when the server offers it; return why not otherwise."""
    if conn.dialect.name != "postgresql":
        return "not PostgreSQL"
    available = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).scalar()
    if not available:
        return "timescaledb is not installed on this server"
    preloaded = conn.execute(text("SELECT current_setting('shared_preload_libraries')")).scalar()
    if "timescaledb" not in str(preloaded):
        return "timescaledb is installed but not in shared_preload_libraries"
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    return None


@dataclass(frozen=True)
class JobStatus:
    """A TimescaleDB background job and how its runs went."""

    job_id: int
    name: str
    proc: str
    last_run_status: str | None
    total_runs: int
    total_failures: int
    last_error: str | None

    @property
    def failing(self) -> bool:
        return self.last_run_status == "Failed"


JOBS_QUERY = text(
    """
    SELECT j.job_id, j.application_name, j.proc_name,
           s.last_run_status, coalesce(s.total_runs, 0), coalesce(s.total_failures, 0),
           (SELECT e.err_message FROM timescaledb_information.job_errors e
             WHERE e.job_id = j.job_id ORDER BY e.finish_time DESC NULLS LAST LIMIT 1)
      FROM timescaledb_information.jobs j
      LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
     ORDER BY j.job_id
    """
)


def job_statuses(conn: Connection, storage: StorageInfo) -> list[JobStatus]:
    """Every TimescaleDB job with its last run (none on SQLite and plain PostgreSQL).

    Both licences run jobs: the Apache edition its own housekeeping (telemetry, job-history
    retention), the community edition also compression and retention policies.
    """
    if not storage.hypertables:
        return []
    return [
        JobStatus(int(r[0]), str(r[1]), str(r[2]), r[3], int(r[4]), int(r[5]), r[6])
        for r in conn.execute(JOBS_QUERY)
    ]


def job_health(statuses: list[JobStatus]) -> dict[str, object]:
    """What ``/readyz`` shows of the jobs: how many, and each failing one with its error."""
    return {
        "jobs": len(statuses),
        "failing": [
            {
                "job_id": s.job_id,
                "name": s.name,
                "failures": s.total_failures,
                "error": s.last_error,
            }
            for s in statuses
            if s.failing
        ],
    }
