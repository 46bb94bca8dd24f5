"""``python -m ingest.replay``: publish dead letters again, exactly as received.

For messages set aside (``quarantined``, ``write_failed``, ``internal_error``) once
their cause is fixed. Lists by default; ``--publish`` publishes each at QoS 1 to its
topic and deletes its row only once the broker has acknowledged it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import aiomqtt
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.engine import make_engine
from app.db.models import RejectedMessageRow
from app.mqtt import client_kwargs


def selected(
    engine: Engine, reasons: Sequence[str], ids: Sequence[int], limit: int
) -> list[RejectedMessageRow]:
    """The dead letters asked for, oldest first."""
    query = select(RejectedMessageRow).order_by(RejectedMessageRow.id).limit(limit)
    if reasons:
        query = query.where(RejectedMessageRow.reason.in_(reasons))
    if ids:
        query = query.where(RejectedMessageRow.id.in_(ids))
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


async def republish(settings: Settings, engine: Engine, rows: list[RejectedMessageRow]) -> int:
    """Publish each row's payload to its topic (QoS 1), deleting the row once acknowledged."""
    done = 0
    async with aiomqtt.Client(
        identifier=f"{settings.mqtt_client_id}-replay", **client_kwargs(settings)
    ) as client:
        for row in rows:
            await client.publish(row.topic, bytes(row.payload), qos=1)  # returns on PUBACK
            with engine.begin() as conn:
                conn.execute(delete(RejectedMessageRow).where(RejectedMessageRow.id == row.id))
            done += 1
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.replay", description=__doc__)
    parser.add_argument("--reason", action="append", default=[], help="e.g. quarantined")
    parser.add_argument("--id", action="append", type=int, default=[], help="a row id")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--publish", action="store_true", help="publish and delete")
    args = parser.parse_args(argv)
    if not args.reason and not args.id:
        parser.error("say which: --reason and/or --id")
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        rows = selected(engine, args.reason, args.id, args.limit)
        for row in rows:
            first = row.detail.splitlines()[0] if row.detail else ""
            print(f"{row.id}\t{row.reason}\t{row.topic}\t{len(row.payload)} bytes\t{first[:120]}")
        if args.publish:
            count = asyncio.run(republish(settings, engine, rows))
            print(f"republished and deleted {count} of {len(rows)}")
        else:
            print(f"{len(rows)} dead letters; --publish to publish them again")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
