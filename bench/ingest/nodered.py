"""The benchmark's peer: the Node-RED 4 flow an integrator would build (``bench/peers/nodered``).

mqtt in (QoS 1, persistent MQTT v5 session) -> join 1,000 msgs / 100 ms -> one
``INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING`` per join, in a function
node with the npm ``pg`` package. Node-RED acknowledges each message on
receipt (before the insert), so unlike the ingester it can lose what it holds
when it crashes; the benchmark measures speed only.

Node-RED runs headless on the machine's Node.js: no editor, no admin API, its
userDir a throwaway directory, the flow file from the repository.
``ensure_installed`` runs ``npm ci`` (``npm install`` without a lock file)
into ``bench/peers/nodered/node_modules`` once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

PEER_DIR: Final = Path(__file__).resolve().parents[1] / "peers" / "nodered"
RED_JS: Final = PEER_DIR / "node_modules" / "node-red" / "red.js"
SETTINGS: Final = PEER_DIR / "settings.js"


class PeerUnavailableError(RuntimeError):
    """Node.js or npm is missing, or the npm install failed."""


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise PeerUnavailableError("node (Node.js 20+) is not on PATH")
    return node


def ensure_installed(timeout_s: float = 600.0) -> None:
    """Install Node-RED and pg into ``bench/peers/nodered/node_modules`` unless present."""
    if RED_JS.exists() and (PEER_DIR / "node_modules" / "pg").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailableError("npm is not on PATH")
    command = "ci" if (PEER_DIR / "package-lock.json").exists() else "install"
    done = subprocess.run(
        [npm, command, "--no-audit", "--no-fund"],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise PeerUnavailableError(f"npm {command} failed: {done.stderr.strip()[-2000:]}")


def command() -> list[str]:
    return [node_binary(), str(RED_JS), "--settings", str(SETTINGS)]


def environment(
    *, port: int, client_id: str, prefix: str, dsn: str, user_dir: Path
) -> dict[str, str]:
    """What the flow and the settings file read (``${GP_...}`` in flows.json)."""
    user_dir.mkdir(parents=True, exist_ok=True)
    return dict(
        os.environ,
        GP_NODERED_USERDIR=str(user_dir),
        GP_MQTT_PORT=str(port),
        GP_MQTT_CLIENT_ID=client_id,
        GP_TOPIC_READING=f"{prefix}/+/+/reading",
        GP_TOPIC_BATCH=f"{prefix}/+/gateway/+/batch",
        GP_PG_DSN=dsn,
    )
