"""The in-flight journal: a message that keeps killing the ingester is quarantined.

Whatever escapes the per-message handling (a bug in the write path, a crash in C, the
kernel's OOM killer) ends the process before the messages in flight are acknowledged,
so the broker redelivers them, and the same message would end the next process too.
The journal is a small JSON file noting a fingerprint of each message in flight. On
start, a journal that still lists messages means the last process died with them: each
gets a strike. A message with a strike is a suspect and is written in a batch of its
own, with nothing else in flight; at ``quarantine_after`` strikes it is not written at
all but stored as a ``quarantined`` dead letter with the last traceback, and acknowledged.
A suspect that commits is cleared. Memory and file stay small: only suspects and the
messages in flight are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_MAX_SUSPECTS = 10_000


def fingerprint(topic: str, payload: bytes) -> str:
    """A message's identity across redeliveries (topic and payload; the mid changes)."""
    digest = hashlib.blake2b(payload, digest_size=12, person=b"greenpulse")
    digest.update(topic.encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


class Journal:
    """The messages in flight and the suspects, kept in ``path`` (``None``: in memory)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self.strikes: dict[str, int] = {}
        self.last_error = ""
        self._inflight: set[str] = set()
        if path is None:
            return
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ingest: ignoring an unreadable journal %s (%s)", path, exc)
            return
        self.strikes = {str(k): int(v) for k, v in dict(data.get("strikes", {})).items()}
        self.last_error = str(data.get("last_error", ""))
        died_with = [str(f) for f in data.get("inflight", [])]
        for key in died_with:
            self.strikes[key] = self.strikes.get(key, 0) + 1
        if died_with:
            log.warning(
                "ingest: the last run ended with %d messages in flight; they are suspects "
                "and are written one by one (journal %s)",
                len(died_with),
                path,
            )
            if not self.last_error:
                self.last_error = (
                    "the process died without a Python traceback (killed, out of memory, "
                    "or a crash in a C extension)"
                )
        self._save()

    def suspect(self, key: str) -> int:
        """Strikes against a message (0: not a suspect)."""
        return self.strikes.get(key, 0)

    def started(self, keys: Iterable[str]) -> None:
        """These messages are now in flight."""
        self._inflight.update(keys)
        self._save()

    def finished(self, keys: Iterable[str]) -> None:
        """These messages were committed (or dead-lettered): no longer in flight or suspect."""
        cleared = False
        for key in keys:
            self._inflight.discard(key)
            cleared = self.strikes.pop(key, None) is not None or cleared
        if cleared or not self._inflight:
            # else the next ``started`` saves: a death in between costs only a few
            # committed messages being taken for suspects once
            self._save()

    def failed(self, error: str) -> None:
        """The process is about to die of ``error`` with what is in flight."""
        self.last_error = error[-4000:]
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        if len(self.strikes) > _MAX_SUSPECTS:  # keep the worst
            worst = sorted(self.strikes.items(), key=lambda kv: -kv[1])[:_MAX_SUSPECTS]
            self.strikes = dict(worst)
        data = {
            "inflight": sorted(self._inflight),
            "strikes": self.strikes,
            "last_error": self.last_error,
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._path)
