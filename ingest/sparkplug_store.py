"""What a Sparkplug B message changes in the database besides readings and dead letters.

Written in the transaction of the batch that holds the message (``BatchWriter.commit``),
so it is acknowledged only once stored, like a reading:

* ``offline``: NDEATH/DDEATH of an edge node or device: its meters' ``meter_state``
  rows get ``offline_since`` (a newer reading clears it), so the alert engine opens the
  offline alert at its next evaluation instead of after missed intervals.
* ``births``: the host's live sessions after the batch (``HostState.snapshot``), so a
  restarted ingester resolves the aliases of the DDATA the broker queued meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, case, delete, insert, select, update
from sqlalchemy.orm import Session

from app.db.models import MeterStateRow, SparkplugBirthRow
from app.db.types import UtcDateTime
from ingest.decoded import DecodedReading
from ingest.sparkplug import OfflineEvent


@dataclass(slots=True)
class SparkplugEffects:
    host_id: str
    offline: list[OfflineEvent]
    births: list[tuple[str, bytes]] | None  # None: the sessions did not change

    def __bool__(self) -> bool:
        return bool(self.offline) or self.births is not None


Snapshot = tuple[str, list[tuple[str, bytes]]]
"""A host id and its births (``HostState.snapshot``) after one message."""


def collect(
    messages: Iterable[tuple[list[DecodedReading], list[OfflineEvent] | None, Snapshot | None]],
) -> SparkplugEffects | None:
    """The effects of a batch's messages, in receipt order (None: there are none).

    A reading after a meter's death in the same batch means it is back (a rebirth):
    that death is dropped; readings are written before the deaths, so one before it
    is still followed by the death.
    """
    offline: dict[str, OfflineEvent] = {}
    births: Snapshot | None = None
    for readings, events, snapshot in messages:
        if offline:
            for reading in readings:
                offline.pop(reading.meter_id, None)
        for event in events or ():
            offline[event.meter_id] = event
        if snapshot is not None:
            births = snapshot
    if not offline and births is None:
        return None
    return SparkplugEffects(
        "" if births is None else births[0],
        list(offline.values()),
        None if births is None else births[1],
    )


_AT = bindparam("at", type_=UtcDateTime())
_OFFLINE = (
    update(MeterStateRow)
    .where(MeterStateRow.meter_id == bindparam("meter"))
    .values(
        # never before the newest reading's receipt: the engine compares the two
        offline_since=case((MeterStateRow.received_at > _AT, MeterStateRow.received_at), else_=_AT)
    )
)


def apply(session: Session, effects: SparkplugEffects, now: datetime) -> None:
    """Write the effects in the caller's transaction."""
    connection: Connection = session.connection()
    if effects.offline:
        connection.execute(_OFFLINE, [{"meter": e.meter_id, "at": e.at} for e in effects.offline])
    if effects.births is not None:
        connection.execute(
            delete(SparkplugBirthRow).where(SparkplugBirthRow.host_id == effects.host_id)
        )
        if effects.births:
            connection.execute(
                insert(SparkplugBirthRow),
                [
                    {
                        "host_id": effects.host_id,
                        "topic": topic,
                        "payload": payload,
                        "position": position,
                        "saved_at": now,
                    }
                    for position, (topic, payload) in enumerate(effects.births)
                ],
            )


def load_births(session: Session, host_id: str) -> list[tuple[str, bytes]]:
    """The births kept by the last commit of host ``host_id``, in snapshot order."""
    rows = session.execute(
        select(SparkplugBirthRow.topic, SparkplugBirthRow.payload)
        .where(SparkplugBirthRow.host_id == host_id)
        .order_by(SparkplugBirthRow.position)
    )
    return [(row.topic, bytes(row.payload)) for row in rows]
