"""Replicas agree: a version counter per kind of setting, bumped in the writing transaction.

How it works, and why this and not LISTEN/NOTIFY or the MQTT announcement:

- Every ORM flush that touches a watched table (operator factors, certificates,
  offsets, alert-rule overrides, named tokens) also runs
  ``INSERT … ON CONFLICT DO UPDATE SET version = version + 1`` on ``change_versions``
  *in the same transaction*. The counter moves exactly when the change commits, and
  never when it rolls back.
- Each API process polls the table (a handful of rows, primary-key scan) every
  ``interval_s`` (0.1 s by default) and runs the callbacks of the kinds whose
  version moved: reload operator factors into the figure service, reload the token
  set, recompute the live figures.
- The same code runs on SQLite, PostgreSQL and TimescaleDB; a replica that lost its
  connection catches up at its next successful poll, because it compares versions
  rather than waiting for messages (a NOTIFY sent while a listener reconnects is
  lost; an MQTT announcement could be lost the same way, and the broker is optional
  for the API). Four cheap queries a second per process is the whole cost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Integer, String, event, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db.base import Base
from app.db.types import UtcDateTime

log = logging.getLogger(__name__)

# table name -> the kind of setting it holds
WATCHED_TABLES = {
    "emission_factors": "factors",
    "instrument_certificates": "certificates",
    "instrument_offsets": "offsets",
    "alert_rule_overrides": "alert_rules",
    "api_tokens": "tokens",
}
KINDS = tuple(sorted(set(WATCHED_TABLES.values())))


class ChangeVersionRow(Base):
    """How many committed changes each kind of setting has seen."""

    __tablename__ = "change_versions"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


_BUMP = text(
    "INSERT INTO change_versions (kind, version, changed_at) VALUES (:kind, 1, :now) "
    "ON CONFLICT (kind) DO UPDATE SET version = change_versions.version + 1, "
    "changed_at = excluded.changed_at"
)


def _bump_after_flush(session: Session, _context: Any) -> None:
    kinds: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(getattr(obj, "__table__", None), "name", None)
        if table in WATCHED_TABLES:
            kinds.add(WATCHED_TABLES[table])
    if not kinds:
        return
    conn = session.connection()
    now = datetime.now(UTC)
    for kind in sorted(kinds):  # same order everywhere: no deadlock between two writers
        conn.execute(_BUMP, {"kind": kind, "now": now})


def watch_writes() -> None:
    """Make every ORM session in this process bump the versions it changes (idempotent)."""
    if not event.contains(Session, "after_flush", _bump_after_flush):
        event.listen(Session, "after_flush", _bump_after_flush)


def bump(session: Session, kinds: Iterable[str]) -> None:
    """Announce a change made outside the ORM (bulk SQL) in the current transaction."""
    now = datetime.now(UTC)
    for kind in sorted(set(kinds)):
        session.connection().execute(_BUMP, {"kind": kind, "now": now})


def read_versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(ChangeVersionRow.kind, ChangeVersionRow.version))
        return {kind: version for kind, version in rows}


class ChangeFeed:
    """Polls ``change_versions`` and calls what each changed kind needs.

    Callbacks run in a worker thread (they read the database); one failing is
    logged and retried at the next change, it never stops the feed.
    """

    def __init__(self, engine: Engine, *, interval_s: float = 0.1) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._callbacks: list[tuple[frozenset[str], Callable[[], object]]] = []
        self._seen: dict[str, int] | None = None
        self._each_poll: list[Callable[[], object]] = []
        self.polls = 0

    def on(self, kinds: Iterable[str], callback: Callable[[], object]) -> None:
        self._callbacks.append((frozenset(kinds), callback))

    def on_poll(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` after every poll (cheap housekeeping, e.g. last-use writes)."""
        self._each_poll.append(callback)

    def poll_once(self) -> set[str]:
        """One poll (blocking): the kinds that changed since the previous one."""
        versions = read_versions(self._engine)
        self.polls += 1
        for housekeeping in self._each_poll:
            try:
                housekeeping()
            except Exception:
                log.exception("change feed housekeeping failed")
        if self._seen is None:
            self._seen = versions
            return set()
        changed = {k for k, v in versions.items() if self._seen.get(k) != v}
        self._seen = versions
        for kinds, callback in self._callbacks:
            if kinds & changed:
                try:
                    callback()
                except Exception:
                    log.exception("applying a change to %s failed", sorted(kinds & changed))
        return changed

    async def run(self) -> None:
        while True:
            try:
                changed = await asyncio.to_thread(self.poll_once)
                if changed:
                    log.info("settings changed elsewhere, applied: %s", ", ".join(sorted(changed)))
            except Exception as exc:  # database away: try again, never die
                log.warning("change feed poll failed (%s); retrying", exc)
            await asyncio.sleep(self._interval_s)
