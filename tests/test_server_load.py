"""`syncdesk serve` under load: 30 clients polling while 4 analyses run, every request answered and
`/v1/health` quick (bench/bench_server.py measures the same at length). Bounded in count and time;
loopback only."""

from __future__ import annotations

import threading
import time

import httpx

from .oracle import make_flash_clip
from .test_server import JOB_S, start_server, wait_job

CLIENTS, SECONDS, INTERVAL_S, MAX_ROUNDS = 30, 8.0, 0.2, 500


def test_thirty_clients_polling_while_four_analyses_run(tmp_path, oracle_weights):
    root = tmp_path / "media"
    root.mkdir()
    make_flash_clip(root / "long.avi", seconds=30.0, audio_lead_s=0.08, seed=3)
    server = start_server(tmp_path / "data", root, oracle_weights, workers=4)
    try:
        with server.client() as client:
            jobs = [client.post("/v1/analyses", json={"path": "long.avi", "options": {"exact": True, "vshift": 10 + n}})
                    .json()["url"] for n in range(4)]
            deadline = time.monotonic() + JOB_S
            while client.get("/v1/health").json()["running"] < 4 and time.monotonic() < deadline:
                time.sleep(0.1)
            health: list[float] = []
            failures: list[str] = []
            answered = [0]

            def poll(job: str) -> None:
                with server.client(timeout=30) as own:
                    stop_at = time.monotonic() + SECONDS
                    for _ in range(MAX_ROUNDS):
                        if time.monotonic() >= stop_at:
                            return
                        for path in ("/v1/health", f"{job}?document=false"):
                            started = time.perf_counter()
                            try:
                                ok = own.get(path).status_code == 200
                            except httpx.HTTPError as exc:
                                ok = False
                                failures.append(f"{path}: {exc!r}")
                            if path == "/v1/health":
                                health.append(time.perf_counter() - started)
                            answered[0] += ok
                            if not ok:
                                failures.append(path)
                        time.sleep(INTERVAL_S)

            threads = [threading.Thread(target=poll, args=(jobs[n % 4],)) for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(SECONDS + 60)
            still_running = client.get("/v1/health").json()["running"]
            assert failures == [] and answered[0] == 2 * len(health) > CLIENTS * 10
            assert still_running == 4, "the analyses ended before the load did: make them longer"
            p95 = sorted(health)[int(0.95 * len(health))]
            assert p95 < 0.1, f"p95 of /v1/health was {1000 * p95:.0f} ms"
            for job in jobs:  # their results are not the point here (and would take a minute more)
                assert client.delete(job).status_code == 202
            for job in jobs:
                assert wait_job(client, job, timeout=30)["cancelled"]
    finally:
        server.stop()
