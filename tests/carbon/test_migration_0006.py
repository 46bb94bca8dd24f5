"""Migration 0006 on every backend: hour rollups become 15-minute buckets rebuilt from the
readings, and the old certificate and offset rows become registry entries with an audit line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from app.carbon.models import CertificateRow, InstrumentAuditRow, OffsetRow
from app.db import migrate
from app.db.models import RollupRow
from app.db.schema_guard import schema_state
from tests.conftest import Backend

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("fresh_backend", ["sqlite", "postgresql", "timescaledb"], indirect=True)
def test_rollups_and_instruments_move_over(fresh_backend: Backend) -> None:
    engine = fresh_backend.engine
    timescale = fresh_backend.name == "timescaledb"
    migrate.upgrade(engine, "0005", timescaledb=timescale)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sites (id, name, timezone, latitude, longitude, regions) VALUES "
                "('s1', 's1', 'Asia/Kolkata', 0, 0, '[\"IN\"]')"
            )
        )
        conn.execute(text("INSERT INTO areas (id, site_id, name) VALUES ('a1', 's1', 'a1')"))
        conn.execute(
            text(
                "INSERT INTO meters (id, site_id, area_id, name, resource, register_kind, unit, "
                "multiplier, expected_interval_s, active) VALUES ('m1', 's1', 'a1', 'm1', "
                "'electricity_import', 'cumulative', 'kWh', 1, 60, true)"
            )
        )
        for minutes, value, quantity in ((0, 100.0, None), (20, 120.0, 20.0), (40, 150.0, 30.0)):
            conn.execute(
                text(
                    "INSERT INTO readings (meter_id, time, raw_value, raw_unit, value, quantity, "
                    "quality, received_at) VALUES ('m1', :t, :v, 'kWh', :v, :q, 0, :t)"
                ),
                {"t": T0 + timedelta(minutes=minutes), "v": value, "q": quantity},
            )
        conn.execute(
            text(
                "INSERT INTO rollups (meter_id, resolution, bucket_start, quantity, samples, "
                "estimated) VALUES ('m1', 'hour', :t, 50, 2, 0)"
            ),
            {"t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO green_certificates (site_id, period_start, period_end, mwh, scheme, "
                "reference) VALUES ('s1', :a, :b, 1.5, 'GEC', NULL)"
            ),
            {"a": date(2026, 3, 1), "b": date(2026, 4, 1)},
        )
        conn.execute(
            text(
                "INSERT INTO offsets (site_id, retired_on, tonnes_co2e, standard, reference) "
                "VALUES ('s1', :d, 2.5, 'VCS', 'VCS-9')"
            ),
            {"d": date(2026, 3, 2)},
        )
    migrate.upgrade(engine, timescaledb=timescale)
    assert migrate.current_revision(engine) == schema_state(engine).head
    with fresh_backend.factory() as session:
        rows = session.execute(
            select(RollupRow.resolution, RollupRow.bucket_start, RollupRow.quantity)
        ).all()
        cert = session.scalars(select(CertificateRow)).one()
        offset = session.scalars(select(OffsetRow)).one()
        audit = session.scalars(select(InstrumentAuditRow)).all()
    fine = {b.astimezone(UTC): q for r, b, q in rows if r == "15min"}
    days = {b.astimezone(UTC): q for r, b, q in rows if r == "day"}
    assert "hour" not in {r for r, _, _ in rows}
    # (04:00, 04:20] 20 kWh, (04:20, 04:40] 30 kWh, spread by time over 15-minute buckets
    expected = {T0: 15.0, T0 + timedelta(minutes=15): 20.0, T0 + timedelta(minutes=30): 15.0}
    assert fine == pytest.approx(expected)
    assert sum(fine.values()) == pytest.approx(50)
    assert days == {datetime(2026, 3, 1, 18, 30, tzinfo=UTC): pytest.approx(50)}
    assert (cert.reference, cert.quantity, cert.unit) == ("certificate-1", "1.5", "MWh")
    assert (cert.claimed_first, cert.claimed_last) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (offset.reference, offset.quantity, offset.retired_on) == (
        "VCS-9",
        "2.5",
        date(2026, 3, 2),
    )
    assert [(a.actor, a.kind) for a in audit] == [
        ("migration", "certificate"),
        ("migration", "offset"),
    ]
    # and back: the hour is the sum of its 15-minute buckets
    migrate.downgrade(engine, "0005")
    with engine.connect() as conn:
        hours = conn.execute(
            text("SELECT quantity, samples FROM rollups WHERE resolution = 'hour'")
        ).all()
        certificates = conn.execute(text("SELECT mwh, reference FROM green_certificates")).all()
        offsets = conn.execute(text("SELECT tonnes_co2e, reference FROM offsets")).all()
    assert [tuple(h) for h in hours] == [(pytest.approx(50), 2)]
    assert [tuple(c) for c in certificates] == [(1.5, "certificate-1")]
    assert [tuple(o) for o in offsets] == [(2.5, "VCS-9")]
