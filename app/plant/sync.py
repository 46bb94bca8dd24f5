"""Mirror the plant file into the database (the file is the source of truth)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import transaction
from app.db.models import AreaRow, GreenCertificateRow, MeterRow, OffsetRow, SiteRow
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
    """Certificates and offsets declared in the file, added once (matched by reference)."""
    for site in plant.sites:
        have_certs = set(
            session.scalars(
                select(GreenCertificateRow.reference).where(GreenCertificateRow.site_id == site.id)
            )
        )
        for cert in site.green_certificates:
            if cert.reference not in have_certs:
                session.add(
                    GreenCertificateRow(
                        site_id=site.id,
                        period_start=cert.period_start,
                        period_end=cert.period_end,
                        mwh=cert.mwh,
                        scheme=cert.scheme,
                        reference=cert.reference,
                    )
                )
        have_offsets = set(
            session.scalars(select(OffsetRow.reference).where(OffsetRow.site_id == site.id))
        )
        for offset in site.offsets:
            if offset.reference not in have_offsets:
                session.add(
                    OffsetRow(
                        site_id=site.id,
                        retired_on=offset.retired_on,
                        tonnes_co2e=offset.tonnes_co2e,
                        standard=offset.standard,
                        reference=offset.reference,
                    )
                )
