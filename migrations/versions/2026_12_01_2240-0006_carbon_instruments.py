"""carbon: rollups at 15-minute UTC buckets (rebuilt from the readings); the instruments
registry (certificates, offsets, audit trail) replacing green_certificates and offsets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from app.db.rollups import rebuild_all_rollups
from app.db.types import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sa.String:
    return sa.String(length=length)


def upgrade() -> None:
    op.create_table(
        "instrument_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", _text(64), nullable=False),
        sa.Column("reference", _text(200), nullable=False),
        sa.Column("instrument_type", _text(16), nullable=False),
        sa.Column("generation_first", sa.Date(), nullable=False),
        sa.Column("generation_last", sa.Date(), nullable=False),
        sa.Column("claimed_first", sa.Date(), nullable=False),
        sa.Column("claimed_last", sa.Date(), nullable=False),
        sa.Column("quantity", _text(40), nullable=False),
        sa.Column("unit", _text(8), nullable=False),
        sa.Column("registry", _text(200), nullable=False),
        sa.Column("serial", _text(200), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_instrument_certificates_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_certificates")),
        sa.UniqueConstraint("reference", name=op.f("uq_instrument_certificates_reference")),
    )
    with op.batch_alter_table("instrument_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_instrument_certificates_site_id"), ["site_id"], unique=False
        )
    op.create_table(
        "instrument_offsets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", _text(64), nullable=False),
        sa.Column("reference", _text(200), nullable=False),
        sa.Column("standard", _text(32), nullable=False),
        sa.Column("project", _text(200), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=False),
        sa.Column("quantity", _text(40), nullable=False),
        sa.Column("unit", _text(8), nullable=False),
        sa.Column("registry", _text(200), nullable=False),
        sa.Column("serial", _text(200), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_instrument_offsets_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_offsets")),
        sa.UniqueConstraint("reference", name=op.f("uq_instrument_offsets_reference")),
    )
    with op.batch_alter_table("instrument_offsets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_instrument_offsets_site_id"), ["site_id"], unique=False
        )
    op.create_table(
        "instrument_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", _text(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", _text(64), nullable=False),
        sa.Column("action", _text(16), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("reference", _text(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_instrument_audit_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_audit")),
    )
    with op.batch_alter_table("instrument_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instrument_audit_site_id"), ["site_id"], unique=False)
    _carry_instruments_over()
    op.drop_table("green_certificates")
    op.drop_table("offsets")
    # rollups: UTC hours become 15-minute buckets, rebuilt exactly from the stored readings
    session = Session(bind=op.get_bind())
    session.execute(sa.text("DELETE FROM rollups"))
    rebuild_all_rollups(session)
    session.flush()


def _carry_instruments_over() -> None:
    """Rows of the old tables become registry entries, each with an audit line."""
    conn = op.get_bind()
    now = datetime.now(UTC)
    seen: set[str] = set()
    certs = conn.execute(
        sa.text(
            "SELECT id, site_id, period_start, period_end, mwh, scheme, reference FROM green_certificates"
        )
    ).all()
    for cid, site, start_raw, end_raw, mwh, scheme, reference in certs:
        start, end = _date(start_raw), _date(end_raw)
        ref = reference or f"certificate-{cid}"
        if ref in seen:
            ref = f"{ref}-{cid}"
        seen.add(ref)
        last = end - timedelta(days=1)
        conn.execute(
            sa.text(
                "INSERT INTO instrument_certificates (site_id, reference, instrument_type, "
                "generation_first, generation_last, claimed_first, claimed_last, quantity, unit, "
                "registry, serial, retired_on, created_at) VALUES (:s, :r, :t, :a, :b, :a, :b, "
                ":q, 'MWh', 'not recorded', :r, :a, :now)"
            ).bindparams(sa.bindparam("now", type_=UtcDateTime())),
            {
                "s": site,
                "r": ref,
                "t": scheme[:16],
                "a": start,
                "b": last,
                "q": repr(mwh),
                "now": now,
            },
        )
        _audit(conn, site, now, "certificate", ref, f"carried over: {mwh} MWh {scheme}")
    offsets = conn.execute(
        sa.text("SELECT id, site_id, retired_on, tonnes_co2e, standard, reference FROM offsets")
    ).all()
    for oid, site, retired_raw, tonnes, standard, reference in offsets:
        retired = _date(retired_raw)
        ref = reference or f"offset-{oid}"
        if ref in seen:
            ref = f"{ref}-{oid}"
        seen.add(ref)
        conn.execute(
            sa.text(
                "INSERT INTO instrument_offsets (site_id, reference, standard, project, vintage, "
                "quantity, unit, registry, serial, retired_on, void_reason, created_at) VALUES "
                "(:s, :r, :st, 'not recorded', :v, :q, 'tCO2e', 'not recorded', :r, :d, '', :now)"
            ).bindparams(sa.bindparam("now", type_=UtcDateTime())),
            {
                "s": site,
                "r": ref,
                "st": standard[:32],
                "v": retired.year,
                "q": repr(tonnes),
                "d": retired,
                "now": now,
            },
        )
        _audit(conn, site, now, "offset", ref, f"carried over: {tonnes} tCO2e {standard}")


def _date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _audit(conn: sa.Connection, site: str, at: datetime, kind: str, ref: str, detail: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO instrument_audit (site_id, at, actor, action, kind, reference, detail) "
            "VALUES (:s, :at, 'migration', 'create', :k, :r, :d)"
        ).bindparams(sa.bindparam("at", type_=UtcDateTime())),
        {"s": site, "at": at, "k": kind, "r": ref, "d": detail},
    )


def downgrade() -> None:
    op.create_table(
        "green_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", _text(64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("mwh", sa.Float(), nullable=False),
        sa.Column("scheme", _text(32), nullable=False),
        sa.Column("reference", _text(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_green_certificates_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_green_certificates")),
    )
    with op.batch_alter_table("green_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_green_certificates_site_id"), ["site_id"], unique=False
        )
    op.create_table(
        "offsets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", _text(64), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=False),
        sa.Column("tonnes_co2e", sa.Float(), nullable=False),
        sa.Column("standard", _text(64), nullable=False),
        sa.Column("reference", _text(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_offsets_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offsets")),
    )
    with op.batch_alter_table("offsets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offsets_site_id"), ["site_id"], unique=False)
    _carry_instruments_back()
    op.drop_table("instrument_audit")
    op.drop_table("instrument_offsets")
    op.drop_table("instrument_certificates")
    # back to UTC hours: each hour is the sum of its four 15-minute buckets
    conn = op.get_bind()
    hours: dict[tuple[str, datetime], list[float]] = {}
    rows = conn.execute(
        sa.text(
            "SELECT meter_id, bucket_start, quantity, samples, estimated FROM rollups "
            "WHERE resolution = '15min'"
        )
    ).all()
    for meter_id, bucket, quantity, samples, estimated in rows:
        start = _instant(bucket).replace(minute=0, second=0, microsecond=0)
        acc = hours.setdefault((meter_id, start), [0.0, 0, 0])
        acc[0] += quantity
        acc[1] += samples
        acc[2] += estimated
    op.execute("DELETE FROM rollups WHERE resolution = '15min'")
    for (meter_id, start), (quantity, samples, estimated) in hours.items():
        conn.execute(
            sa.text(
                "INSERT INTO rollups (meter_id, resolution, bucket_start, quantity, samples, "
                "estimated) VALUES (:m, 'hour', :b, :q, :s, :e)"
            ).bindparams(sa.bindparam("b", type_=UtcDateTime())),
            {"m": meter_id, "b": start, "q": quantity, "s": int(samples), "e": int(estimated)},
        )


def _carry_instruments_back() -> None:
    """Registry entries become rows of the old tables (void offsets are left out)."""
    conn = op.get_bind()
    kwh_per = {"kWh": Decimal(1), "MWh": Decimal(1000)}
    kg_per = {"tCO2e": Decimal(1000), "kgCO2e": Decimal(1), "tCO2": Decimal(1000)}
    certs = conn.execute(
        sa.text(
            "SELECT site_id, claimed_first, claimed_last, quantity, unit, instrument_type, "
            "reference FROM instrument_certificates"
        )
    ).all()
    for site, first, last, quantity, unit, kind, reference in certs:
        conn.execute(
            sa.text(
                "INSERT INTO green_certificates (site_id, period_start, period_end, mwh, scheme, "
                "reference) VALUES (:s, :a, :b, :q, :t, :r)"
            ),
            {
                "s": site,
                "a": _date(first),
                "b": _date(last) + timedelta(days=1),
                "q": float(Decimal(quantity) * kwh_per.get(unit, Decimal(1000)) / 1000),
                "t": kind,
                "r": reference,
            },
        )
    offsets = conn.execute(
        sa.text(
            "SELECT site_id, retired_on, retired_at, quantity, unit, standard, reference "
            "FROM instrument_offsets WHERE voided_at IS NULL"
        )
    ).all()
    for site, retired_on, retired_at, quantity, unit, standard, reference in offsets:
        day = _date(retired_on) if retired_on is not None else _instant(retired_at).date()
        conn.execute(
            sa.text(
                "INSERT INTO offsets (site_id, retired_on, tonnes_co2e, standard, reference) "
                "VALUES (:s, :d, :q, :st, :r)"
            ),
            {
                "s": site,
                "d": day,
                "q": float(Decimal(quantity) * kg_per.get(unit, Decimal(1000)) / 1000),
                "st": standard,
                "r": reference,
            },
        )


def _instant(value: object) -> datetime:
    """A stored instant as aware UTC (SQLite hands back text or naive UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
