"""What ``greenpulse demo`` keeps in its working directory between runs, and its lock.

The directory holds the SQLite database (``greenpulse-demo.db``), the tokens a kiosk keeps
in its URL (``greenpulse-demo-tokens.json``, readable by the owner only), where the
simulated clock had got to (``greenpulse-demo-state.json``), and a lock file held while a
demo runs, so that a second demo in the same directory refuses before touching anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from app.auth.tokens import Tokens

DEMO_DATABASE = "greenpulse-demo.db"
TOKENS_FILE = "greenpulse-demo-tokens.json"
STATE_FILE = "greenpulse-demo-state.json"
LOCK_FILE = "greenpulse-demo.lock"
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class DemoRefused(Exception):  # noqa: N818 (a refusal, not an error)
    """The demo cannot start; the message is the one line to print."""


@contextlib.contextmanager
def demo_lock(directory: Path) -> Iterator[None]:
    """Hold the directory's demo lock, or refuse at once when another demo holds it.

    Raises:
        DemoRefused: another demo runs in ``directory``.
    """
    path = directory / LOCK_FILE
    # opened for appending, never truncated: a refused demo changes nothing on disk
    handle: IO[str] = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise DemoRefused(
                f"another greenpulse demo (pid {holder}) is running in {directory}; "
                "stop it first, or start this one in another directory"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def check_port_free(port: int, option: str, host: str = "127.0.0.1") -> None:
    """Refuse in one line, naming the option to change, when ``port`` is taken.

    Raises:
        DemoRefused: something already listens on ``host:port``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise DemoRefused(
                f"port {port} on {host} is already in use; choose another with {option} PORT"
            ) from None


def forget(directory: Path) -> bool:
    """Delete the database, tokens and clock state (``--fresh``); True when there were any."""
    paths = [directory / (DEMO_DATABASE + s) for s in DATABASE_SUFFIXES]
    paths += [directory / TOKENS_FILE, directory / STATE_FILE]
    existed = False
    for path in paths:
        if path.exists():
            existed = True
            path.unlink()
    return existed


def has_database(directory: Path) -> bool:
    return (directory / DEMO_DATABASE).exists()


def load_or_create_tokens(directory: Path) -> tuple[Tokens, bool]:
    """The tokens of earlier runs, or new ones saved for the next (flag True when new)."""
    path = directory / TOKENS_FILE
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
        saved = json.loads(path.read_text())
        return Tokens(str(saved["write_token"]), str(saved["read_token"])), False
    write, read = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"write_token": write, "read_token": read}, out, indent=2)
        out.write("\n")
    return Tokens(write, read), True


def saved_clock(directory: Path) -> datetime | None:
    """Where the simulated clock had got to when the last run stopped (or last saved)."""
    try:
        raw = json.loads((directory / STATE_FILE).read_text())["simulated_until"]
        return datetime.fromisoformat(str(raw)).astimezone(UTC)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def save_clock(directory: Path, simulated_until: datetime) -> None:
    """Record the simulated time reached (written atomically: a crash keeps the old one)."""
    path = directory / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"simulated_until": simulated_until.isoformat()}) + "\n")
    temporary.replace(path)


@dataclass(frozen=True)
class ResumePoint:
    """Where a run starts: a new plant with history first, or where the last run stopped."""

    origin: datetime
    backfill_hours: float
    resumed: bool


def resume_point(
    directory: Path, *, backfill_hours: float, newest_reading: datetime | None, now: datetime
) -> ResumePoint:
    """Continue at the later of the saved clock and the newest stored reading, else start now."""
    known = [t for t in (saved_clock(directory), newest_reading) if t is not None]
    if known:
        return ResumePoint(max(known), 0.0, True)
    return ResumePoint(now, backfill_hours, False)
