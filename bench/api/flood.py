"""Bad-token flood: does a storm of refused connections hurt a good client's REST GETs?

    .venv/bin/python -m bench.api.flood [--attempts 2000] [--concurrency 100] [--rounds 4]

Starts a real ``greenpulse serve`` on loopback over a throwaway SQLite database (with
``GREENPULSE_API_TOKEN``/``GREENPULSE_READ_TOKEN`` set), then in the same run:

1. **Baseline.** A good client (one keep-alive connection, the read token, at most
   20 requests a second) times ``--samples`` ``GET /api/v1/sites/guian``: p50, p99.
2. **Flood.** A separate process opens ``--attempts`` new connections,
   ``--concurrency`` at a time, each with a bad token, in turn: a GET with a random
   bearer, a GET with a non-ASCII one, a POST announcing a 300 MB body (none sent),
   and a websocket upgrade of the live stream with ``?token=<random>``. Meanwhile the good
   client times the same GETs again. ``--rounds`` floods run one after the other, so
   that the p99 under flood rests on a few hundred samples.

Printed: both p99s and their ratio, the refusals counted, the flood's duration and
the load average before and after. Loopback only; bounded (every request has a
timeout, the whole run stops after ``--max-s``), and the server and database are
removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import websockets

ADMIN = "flood-bench-admin-" + secrets.token_urlsafe(12)
READ = "flood-bench-read-" + secrets.token_urlsafe(12)
GOOD_PATH = "/api/v1/sites/guian"
PACE_S = 0.05  # the good client asks 20 times a second at most


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENPULSE_")}
    env.update(
        GREENPULSE_DATABASE_URL=f"sqlite:///{workdir / 'flood.db'}",
        GREENPULSE_MQTT_URL="mqtt://127.0.0.1:1",
        GREENPULSE_API_TOKEN=ADMIN,
        GREENPULSE_READ_TOKEN=READ,
        GREENPULSE_LOG_LEVEL="WARNING",
    )
    exe = str(Path(sys.executable).with_name("greenpulse"))
    subprocess.run([exe, "migrate"], env=env, cwd=workdir, check=True, capture_output=True)
    log = (workdir / "serve.log").open("wb")
    server = subprocess.Popen(
        [exe, "serve", "--port", str(port)], env=env, cwd=workdir, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"serve did not start: {(workdir / 'serve.log').read_text()}")


def _good_client(base: str, samples: int, stop_at: float) -> list[float]:
    """Latencies (ms) of GETs on one keep-alive connection, paced like a dashboard."""
    out: list[float] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {READ}"}) as http:
        for _ in range(5):
            http.get(GOOD_PATH, timeout=10)  # warm the connection and the route
        for _ in range(samples):
            if time.monotonic() > stop_at:
                break
            time.sleep(PACE_S)
            started = time.perf_counter()
            response = http.get(GOOD_PATH, timeout=10)
            out.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"good client refused: {response.status_code}")
    return out


async def _one_attempt(http: httpx.AsyncClient, port: int, n: int, outcomes: Counter[str]) -> None:
    kind = n % 4
    try:
        if kind == 3:
            url = f"ws://127.0.0.1:{port}/api/v1/live/sites/guian?token={secrets.token_hex(8)}"
            async with websockets.connect(url, open_timeout=10, close_timeout=2) as ws:
                try:
                    await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed as closed:
                    outcomes[f"ws {closed.rcvd.code if closed.rcvd else 'closed'}"] += 1
            return
        if kind == 2:  # 300 MB announced, none sent: answered from the headers alone
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /api/v1/sites/guian/certificates HTTP/1.1\r\nHost: gp\r\n"
                b"Authorization: Bearer nope\r\nContent-Length: 300000000\r\n\r\n"
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            outcomes[f"http {status.split()[1].decode() if status else 'closed'}"] += 1
            return
        if kind == 0:
            r = await http.get(GOOD_PATH, headers={"Authorization": f"Bearer {n}x"})
        else:
            r = await http.get(GOOD_PATH, headers=[(b"authorization", "Bearer é".encode())])
        outcomes[f"http {r.status_code}"] += 1
    except (httpx.HTTPError, OSError, TimeoutError, websockets.WebSocketException) as exc:
        outcomes[f"error {type(exc).__name__}"] += 1


async def _flood(port: int, attempts: int, concurrency: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    # no keep-alive: every attempt is a new connection (the server closes after a refusal)
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits
    ) as http:

        async def bounded(n: int) -> None:
            async with gate:
                await _one_attempt(http, port, n, outcomes)

        await asyncio.gather(*(bounded(n) for n in range(attempts)))
    return outcomes


def _flood_process(
    port: int,
    attempts: int,
    concurrency: int,
    results: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    started = time.monotonic()
    outcomes = asyncio.run(_flood(port, attempts, concurrency))
    results.put((dict(outcomes), time.monotonic() - started))


def _one_round(
    base: str, port: int, args: argparse.Namespace, stop_at: float
) -> tuple[list[float], dict[str, int], float]:
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    attacker = multiprocessing.Process(
        target=_flood_process, args=(port, args.attempts, args.concurrency, results)
    )
    attacker.start()
    under_flood: list[float] = []
    while attacker.is_alive() and time.monotonic() < stop_at:
        under_flood += _good_client(base, 10, stop_at)
    attacker.join(max(1.0, stop_at - time.monotonic()))
    if attacker.is_alive():
        attacker.kill()
        raise SystemExit("the flood did not finish in time")
    outcomes, flood_s = results.get(timeout=10)
    return under_flood, outcomes, flood_s


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4, help="floods, one after the other")
    parser.add_argument("--max-s", type=float, default=240.0)
    args = parser.parse_args()
    stop_at = time.monotonic() + args.max_s
    with tempfile.TemporaryDirectory(prefix="gp-flood-") as tmp:
        port = _free_port()
        server = _start_server(Path(tmp), port)
        base = f"http://127.0.0.1:{port}"
        try:
            load_before = os.getloadavg()
            baseline = _good_client(base, args.samples, stop_at)
            under_flood: list[float] = []
            outcomes: Counter[str] = Counter()
            durations: list[float] = []
            for _ in range(args.rounds):
                latencies, counted, flood_s = _one_round(base, port, args, stop_at)
                under_flood += latencies
                outcomes.update(counted)
                durations.append(flood_s)
            load_after = os.getloadavg()
        finally:
            server.terminate()
            server.wait(15)
    base_p50, base_p99 = _p(baseline, 50), _p(baseline, 99)
    flood_p50, flood_p99 = _p(under_flood, 50), _p(under_flood, 99)
    print(f"good client GET {GOOD_PATH}, one keep-alive connection")
    for label, n, p50, p99 in (
        ("baseline:   ", len(baseline), base_p50, base_p99),
        ("under flood:", len(under_flood), flood_p50, flood_p99),
    ):
        print(f"  {label} n={n:4d}  p50={p50:6.2f} ms  p99={p99:6.2f} ms")
    print(f"  p99 ratio (flood / baseline): {flood_p99 / base_p99:.2f}")
    print(
        f"flood: {args.rounds} x {args.attempts} connection attempts with bad tokens, "
        f"{args.concurrency} at a time; each round in "
        + ", ".join(f"{d:.1f} s ({args.attempts / d:.0f}/s)" for d in durations)
    )
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load_after)
        + f" on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
