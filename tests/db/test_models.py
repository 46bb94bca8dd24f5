"""Model round-trips on every backend: what goes in comes out, keys hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts.models import AlertRow
from app.carbon.models import CertificateRow
from app.db.models import (
    AreaRow,
    EmissionFactorRow,
    MeterEventRow,
    MeterRow,
    ReadingRow,
    RejectedMessageRow,
    SiteRow,
)
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from tests.conftest import Backend

T0 = datetime(2026, 11, 22, 2, 15, tzinfo=UTC)


def _site(session: Session) -> None:
    session.add(
        SiteRow(
            id="s1",
            name="Site",
            timezone="Asia/Shanghai",
            latitude=26.4,
            longitude=106.5,
            regions=["site:s1", "CN-GZ", "CN"],
        )
    )
    session.flush()
    session.add(AreaRow(id="a1", site_id="s1", parent_id=None, name="Area"))
    session.flush()
    session.add(
        MeterRow(
            id="m1",
            site_id="s1",
            area_id="a1",
            name="Meter",
            resource="electricity",
            register_kind="cumulative",
            unit="kWh",
            multiplier=40.0,
            rollover=99999.9,
            expected_interval_s=60,
            rated_kw=500,
        )
    )
    session.flush()


def test_reading_round_trip_keeps_raw_and_normalised(session: Session) -> None:
    _site(session)
    session.add(
        ReadingRow(
            meter_id="m1",
            time=T0,
            raw_value=1234.5,
            raw_unit="kWh",
            value=49380.0,
            quantity=12.5,
            quality=4,
            seq=7,
            received_at=T0,
        )
    )
    session.flush()
    session.expunge_all()
    row = session.get(ReadingRow, ("m1", T0))
    assert row is not None
    assert (row.raw_value, row.raw_unit, row.value, row.quantity, row.quality, row.seq) == (
        1234.5,
        "kWh",
        49380.0,
        12.5,
        4,
        7,
    )
    assert row.time.replace(tzinfo=UTC) == T0


def test_same_meter_and_time_is_stored_once(session: Session) -> None:
    _site(session)
    session.add(
        ReadingRow(
            meter_id="m1",
            time=T0,
            raw_value=1,
            raw_unit="kWh",
            value=1,
            quantity=None,
            quality=0,
            received_at=T0,
        )
    )
    session.flush()
    session.add(
        ReadingRow(
            meter_id="m1",
            time=T0,
            raw_value=2,
            raw_unit="kWh",
            value=2,
            quantity=None,
            quality=0,
            received_at=T0,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_one_open_alert_per_condition(session: Session) -> None:
    def alert(status: str) -> AlertRow:
        return AlertRow(
            condition_key="spike:meter:m1",
            kind="spike",
            severity="warning",
            status=status,
            site_id="s1",
            message="m",
            opened_at=T0,
            details={},
        )

    session.add(alert("resolved"))
    session.add(alert("resolved"))
    session.add(alert("open"))
    session.flush()
    session.add(alert("acknowledged"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_factor_certificate_event_and_dead_letter_round_trip(session: Session) -> None:
    _site(session)
    session.add(
        EmissionFactorRow(
            id="cn-2023",
            region="CN",
            resource="electricity",
            method="location",
            value=0.5306,
            unit="kgCO2/kWh",
            kg_per_unit=0.5306,
            gas_basis="CO2",
            data_year=2023,
            valid_from=date(2026, 1, 1),
            valid_to=None,
            source="MEE",
            status="secondary",
        )
    )
    session.add(
        CertificateRow(
            site_id="s1",
            reference="GEC-1",
            instrument_type="GEC",
            generation_first=date(2026, 1, 1),
            generation_last=date(2026, 12, 31),
            claimed_first=date(2026, 1, 1),
            claimed_last=date(2026, 12, 31),
            quantity="30000.5",
            unit="MWh",
            registry_name="GEC platform",
            serial="0001",
            retired_on=date(2026, 1, 1),
            created_at=T0,
        )
    )
    session.add(
        MeterEventRow(
            meter_id="m1",
            time=T0,
            kind="rollover",
            previous_value=99999.0,
            value=1.0,
            detail="wrapped",
            recorded_at=T0,
        )
    )
    session.add(
        RejectedMessageRow(
            received_at=T0 + timedelta(seconds=1),
            topic="greenpulse/s1/x",
            meter_id=None,
            reason="unknown_meter",
            detail="no meter x",
            payload=b'{"value": 1}',
        )
    )
    session.flush()
    session.expunge_all()
    factor = session.get(EmissionFactorRow, "cn-2023")
    assert factor is not None and factor.kg_per_unit == 0.5306 and factor.valid_to is None
    dead = session.scalars(select(RejectedMessageRow)).one()
    assert dead.payload == b'{"value": 1}' and dead.reason == "unknown_meter"
    cert = session.scalars(select(CertificateRow)).one()
    assert cert.quantity == "30000.5" and cert.claimed_last == date(2026, 12, 31)


def test_plant_sync_is_idempotent(backend: Backend) -> None:
    plant = load_plant()
    sync_plant(backend.factory, plant)
    sync_plant(backend.factory, plant)
    with backend.factory() as session:
        meters = session.scalars(select(MeterRow)).all()
        certs = session.scalars(select(CertificateRow)).all()
        nested = session.get(AreaRow, "compressors")
    assert len(meters) == 41
    assert {m.id for m in meters if m.resource == "pv"} == {f"pv-inv-{i:02d}" for i in range(1, 7)}
    assert len(certs) == 1
    assert nested is not None and nested.parent_id == "utilities"
