"""Mirror the plant file into the database (the file is the source of truth)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.carbon.models import CertificateRow, OffsetRow
from app.carbon.store import add_certificate, add_offset
from app.db.engine import transaction
from app.db.models import AreaRow, MeterRow, SiteRow
from app.domain.instruments import Certificate, Offset
from app.domain.plant import Plant


def sync_plant(factory: sessionmaker[Session], plant: Plant) -> None:
    """Upsert sites, areas and meters; meters no longer in the file are marked inactive."""
    with transaction(factory) as session:
        for site in plant.sites:
            session.merge(
                SiteRow(
                    id=site.id,
                    name=site.name,
                    timezone=site.timezone,
                    latitude=site.latitude,
                    longitude=site.longitude,
                    regions=list(site.regions()),
                )
            )
            session.flush()
            for area, parent in site.walk_areas():
                session.merge(
                    AreaRow(id=area.id, site_id=site.id, parent_id=parent, name=area.name)
                )
            session.flush()
            for meter in site.meters:
                session.merge(
                    MeterRow(
                        id=meter.id,
                        site_id=site.id,
                        area_id=meter.area,
                        name=meter.name,
                        resource=meter.resource.value,
                        register_kind=meter.register_kind.value,
                        unit=meter.unit,
                        multiplier=meter.multiplier,
                        rollover=meter.rollover,
                        expected_interval_s=meter.expected_interval_s,
                        rated_kw=meter.rated_kw,
                        active=True,
                    )
                )
            _sync_contracts(session, plant)
        known = [m.id for _, m in plant.meters()]
        session.execute(update(MeterRow).where(MeterRow.id.not_in(known)).values(active=False))


def _sync_contracts(session: Session, plant: Plant) -> None:
    """Certificates and offsets declared in the file, registered once (matched by reference)."""
    have = set(session.scalars(select(CertificateRow.reference))) | set(
        session.scalars(select(OffsetRow.reference))
    )
    now = datetime.now(UTC)
    for site in plant.sites:
        for index, cert in enumerate(site.green_certificates):
            reference = cert.reference or f"{site.id}-certificate-{index + 1}"
            if reference in have:
                continue
            last = cert.period_end - timedelta(days=1)
            certificate = Certificate(
                reference=reference,
                instrument_type=cert.scheme,
                generation_first=cert.period_start,
                generation_last=last,
                claimed_first=cert.period_start,
                claimed_last=last,
                quantity=Decimal(repr(cert.mwh)),
                unit="MWh",
                registry="plant file",
                serial=reference,
                retired_on=cert.period_start,
            )
            add_certificate(
                session, site.id, certificate, regions=site.regions(), at=now, actor="plant file"
            )
            have.add(reference)
        for index, offset in enumerate(site.offsets):
            reference = offset.reference or f"{site.id}-offset-{index + 1}"
            if reference in have:
                continue
            entry = Offset(
                reference=reference,
                standard=offset.standard,
                project="plant file",
                vintage=offset.retired_on.year,
                quantity=Decimal(repr(offset.tonnes_co2e)),
                unit="tCO2e",
                registry="plant file",
                serial=reference,
                retired_at=offset.retired_on,
            )
            add_offset(session, site.id, entry, at=now, actor="plant file")
            have.add(reference)
