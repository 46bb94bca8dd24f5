"""Run a throwaway Mosquitto with the recommended configuration (tests and benchmarks).

The recommended file (``deploy/mosquitto/greenpulse.conf``) is used as is,
except for what must differ per run: the listener (a free loopback port), the
persistence and log paths (a temporary directory), the user Mosquitto runs as
and authentication (anonymous, loopback only).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

RECOMMENDED_CONFIG: Final = Path(__file__).resolve().parents[1] / "deploy/mosquitto/greenpulse.conf"
MOSQUITTO_CANDIDATES: Final = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")

# Directives replaced per run; everything else comes from the recommended file.
_REPLACED: Final = frozenset(
    {
        "listener",
        "persistence_location",
        "log_dest",
        "allow_anonymous",
        "password_file",
        "user",
        "pid_file",
    }
)


class BrokerError(RuntimeError):
    """Mosquitto could not be found or did not start."""


def mosquitto_binary() -> str | None:
    """The Mosquitto executable, or None when it is not installed."""
    for candidate in (os.environ.get("GREENPULSE_MOSQUITTO"), *MOSQUITTO_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mosquitto")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(port: int, data_dir: Path, config: Path = RECOMMENDED_CONFIG) -> str:
    """The recommended config with this run's listener, paths and (anonymous) access."""
    kept = [
        line
        for line in config.read_text(encoding="utf-8").splitlines()
        if not line.strip() or line.lstrip().startswith("#") or line.split()[0] not in _REPLACED
    ]
    kept += [
        "",
        "# --- per run (ingest/broker.py) ---",
        f"persistence_location {data_dir}/",
        f"log_dest file {data_dir}/mosquitto.log",
        f"user {getpass.getuser()}",  # as root, Mosquitto would switch to 'mosquitto'
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
    ]
    return "\n".join(kept) + "\n"


@dataclass
class Mosquitto:
    """A Mosquitto process on ``127.0.0.1:port`` keeping its state in ``data_dir``."""

    port: int
    data_dir: Path
    binary: str
    config_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise BrokerError(f"mosquitto exited with {self.process.returncode}: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Clean shutdown: Mosquitto saves its persistence file first."""
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """A crash: nothing saved since the last autosave."""
        self._signal(signal.SIGKILL, 5.0)

    def restart(self, timeout_s: float = 10.0) -> None:
        self.stop(timeout_s)
        self.start(timeout_s)

    def log_text(self) -> str:
        path = self.data_dir / "mosquitto.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def _signal(self, sig: signal.Signals, timeout_s: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)
        if process.stderr:
            process.stderr.close()

    def __enter__(self) -> Mosquitto:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_mosquitto(
    port: int | None = None, data_dir: Path | None = None, config: Path = RECOMMENDED_CONFIG
) -> Mosquitto:
    """Start Mosquitto with ``config`` (the recommended one) on a free or given port.

    Raises:
        BrokerError: Mosquitto is not installed or did not start.
    """
    binary = mosquitto_binary()
    if binary is None:
        raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
    if data_dir is None:
        import tempfile

        data_dir = Path(tempfile.mkdtemp(prefix="greenpulse-mosquitto-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config_file = data_dir / "mosquitto.conf"
    config_file.write_text(render_config(port, data_dir, config), encoding="utf-8")
    broker = Mosquitto(port, data_dir, binary, config_file)
    broker.start()
    return broker
