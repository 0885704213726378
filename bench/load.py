"""A short bounded load on the local runner: a fixed number of requests from a few concurrent clients."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class LoadResult:
    requests: int
    concurrency: int
    seconds: float
    errors: int
    latencies: list[float]

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    def latency_ms(self, quantile: float) -> float:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[int(quantile * 100) - 1] * 1000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_runner(state_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m local_api serve` on a free port of 127.0.0.1 with its own state folder."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {key: value for key, value in os.environ.items() if key not in ("MONGODB_URI", "JWT_SECRET_KEY")}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_api", "serve", "--host", "127.0.0.1", "--port", str(port)]
            + ["--state-dir", str(state_dir), "--log-level", "WARNING"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The local runner exited with code {process.returncode}; see {log_path}.")
        try:
            httpx.get(f"{url}/org/get", params={"organization_name": "probe"}, timeout=1.0)
            return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    stop_runner(process)
    raise RuntimeError(f"The local runner did not respond on {url} within {START_TIMEOUT_SECONDS} s; see {log_path}.")


def stop_runner(process: subprocess.Popen[bytes]) -> None:
    """Stop the runner with SIGTERM, as Ctrl-C would, so that it also stops its database."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(url: str, *, requests: int, concurrency: int) -> LoadResult:
    """Create one organization, then send `requests` GET /org/get calls from `concurrency` clients."""
    body = {"organization_name": "Load Bench", "email": "load@bench.example", "password": "bench-password-1"}
    created = httpx.post(f"{url}/org/create", json=body, timeout=30.0)
    if created.status_code not in (201, 409):
        raise RuntimeError(f"POST /org/create returned {created.status_code}: {created.text}")

    def one(client: httpx.Client) -> tuple[float, bool]:
        started = time.perf_counter()
        try:
            response = client.get("/org/get", params={"organization_name": "Load Bench"})
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        return time.perf_counter() - started, ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=30.0, limits=limits) as client:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            started = time.perf_counter()
            outcomes = list(pool.map(lambda _number: one(client), range(requests)))
            seconds = time.perf_counter() - started

    errors = sum(1 for _latency, ok in outcomes if not ok)
    return LoadResult(requests, concurrency, seconds, errors, [latency for latency, _ok in outcomes])
