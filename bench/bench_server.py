"""Benchmark ``syncdesk serve`` under load: many clients polling while the workers analyse.

A server with ``--workers 4`` is started on a free 127.0.0.1 port (seeded random weights from
``make_weights.py``, ``--detector whole-frame``; speed does not depend on the weights' values). A
feeder keeps four analyses of ``example.avi`` queued or running for the whole measurement (each
with another ``vshift``, so that none is answered from the analysis cache), while ``--clients``
threads, each with its own keep-alive connection, poll: ``GET /v1/health`` then ``GET
/v1/analyses/{id}?document=false`` of a job in flight, then wait ``--interval`` seconds. Every
request is timed; any answer other than 200, or no answer, counts as a failure.

Every loop is bounded by ``--seconds`` and a count, and talks to 127.0.0.1 only. Run from the
repository root::

    python bench/bench_server.py            # 30 clients, 4 workers, 30 s
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import httpx
from make_weights import write_weights

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_VIDEO = REPO_ROOT.parent / "shared" / "data" / "example.avi"
TOKEN = "bench-token-0123456789abcdef"
HOST = "127.0.0.1"
#: at most this many requests per client, whatever --seconds says
MAX_REQUESTS_PER_CLIENT = 100_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(work: Path, root: Path, weights: Path, workers: int) -> tuple[subprocess.Popen, str]:
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "SYNCDESK_DATA_DIR": str(work / "data"), "NO_PROXY": "*"}
    log = open(work / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "syncdesk", "serve", "--host", HOST, "--port", str(port),
                                "--root", str(root), "--token-file", str(token_file), "--weights", str(weights),
                                "--detector", "whole-frame", "--device", "cpu", "--workers", str(workers),
                                "--quiet"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 180
    with httpx.Client(base_url=url, timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited: see {work / 'server.log'}")
            try:
                if client.get("/v1/health").json()["workers"]["ready"] == workers:
                    return process, url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start in 180 s")


class Feeder(threading.Thread):
    """Keeps ``jobs`` analyses queued or running until told to stop; counts those that end."""

    def __init__(self, url: str, video: str, jobs: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
                                   trust_env=False)
        self.video, self.jobs, self.stop = video, jobs, stop
        self.in_flight: list[str] = []
        self.done = self.failed = 0
        self._vshifts = itertools.cycle(range(5, 101))

    def run(self) -> None:
        while not self.stop.is_set():
            for url in list(self.in_flight):
                status = self.client.get(url, params={"document": "false"}).json()["status"]
                if status in ("done", "error"):
                    self.in_flight.remove(url)
                    self.done += status == "done"
                    self.failed += status == "error"
            while len(self.in_flight) < self.jobs:
                created = self.client.post("/v1/analyses", json={"path": self.video,
                                                                 "options": {"vshift": next(self._vshifts)}})
                self.in_flight.append(created.json()["url"])
            self.stop.wait(0.2)


def poll(url: str, feeder: Feeder, seconds: float, interval: float, health: list[float], jobs: list[float],
         failures: list[str]) -> None:
    """One client: health, then a job in flight, then a pause; every request timed."""
    rng = random.Random()
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
                      trust_env=False) as client:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline:
                return
            for path, times in (("/v1/health", health), (None, jobs)):
                if path is None:
                    flying = list(feeder.in_flight)
                    if not flying:
                        continue
                    path = f"{rng.choice(flying)}?document=false"
                started = time.perf_counter()
                try:
                    answer = client.get(path)
                    ok = answer.status_code == 200
                except httpx.HTTPError as exc:
                    ok, answer = False, exc
                times.append(time.perf_counter() - started)
                if not ok:
                    failures.append(f"{path}: {answer}")
            time.sleep(interval)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {"requests": len(values), "p50_ms": round(1000 * statistics.median(values), 1),
            "p95_ms": round(1000 * percentile(values, 0.95), 1), "p99_ms": round(1000 * percentile(values, 0.99), 1),
            "max_ms": round(1000 * max(values), 1)}


def running_sampler(url: str, stop: threading.Event, samples: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        while not stop.wait(0.5):
            samples.append(client.get("/v1/health").json()["running"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.2, help="each client's pause between two polls")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.video.is_file():
        raise SystemExit(f"{args.video} is not there (shared/ beside the checkout, or --video)")

    with tempfile.TemporaryDirectory(prefix="syncdesk-bench-server-") as folder:
        work = Path(folder)
        root = work / "media"
        root.mkdir()
        (root / args.video.name).write_bytes(args.video.read_bytes())
        weights = write_weights(work / "random.model", seed=0)
        process, url = start_server(work, root, weights, args.workers)
        stop = threading.Event()
        feeder = Feeder(url, args.video.name, args.workers, stop)
        try:
            feeder.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until every worker is busy
                if httpx.get(f"{url}/v1/health", trust_env=False).json()["running"] == args.workers:
                    break
                time.sleep(0.2)
            health: list[float] = []
            jobs: list[float] = []
            failures: list[str] = []
            running: list[int] = []
            sampler = threading.Thread(target=running_sampler, args=(url, stop, running), daemon=True)
            sampler.start()
            clients = [threading.Thread(target=poll, args=(url, feeder, args.seconds, args.interval, health, jobs,
                                                           failures)) for _ in range(args.clients)]
            started = time.monotonic()
            for client in clients:
                client.start()
            for client in clients:
                client.join(args.seconds + 120)
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            feeder.join(30)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "clients": args.clients, "workers": args.workers, "seconds": round(elapsed, 1), "interval_s": args.interval,
        "health": summary(health), "job_status": summary(jobs), "failures": len(failures),
        "requests_per_s": round((len(health) + len(jobs)) / elapsed, 1),
        "analyses_done": feeder.done, "analyses_failed": feeder.failed,
        "running_median": statistics.median(running) if running else None,
    }
    print(json.dumps(figures, indent=2))
    for failure in failures[:10]:
        print("failure:", failure, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    ok = not failures and figures["health"]["p95_ms"] < 100
    print(f"target (every request answered, p95 of /v1/health under 100 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
