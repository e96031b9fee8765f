"""`syncdesk serve`: a real uvicorn server on a free 127.0.0.1 port, oracle weights, clips of known offset.

One server serves the whole module (its workers load the model once); the other server test modules
start their own with :func:`start_server`. Every wait is bounded in time; only loopback is contacted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import httpx
import pytest

from .oracle import make_flash_clip

TOKEN = "test-token-0123456789abcdef"
HOST = "127.0.0.1"
#: bounds on every wait (seconds)
START_S, JOB_S, STOP_S = 120.0, 120.0, 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen
    url: str
    data: Path
    root: Path
    token: str
    log: Path

    def client(self, token: Optional[str] = "", timeout: float = 30.0) -> httpx.Client:
        """A client of this server; ``token`` None sends none, "" the server's."""
        headers = {} if token is None else {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout, trust_env=False)

    def wait_ready(self, workers: int) -> None:
        deadline = time.monotonic() + START_S
        with httpx.Client(base_url=self.url, timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.output()}")
                try:
                    health = client.get("/v1/health").json()
                    if health["workers"]["ready"] >= workers:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"the server was not ready in {START_S:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_S)

    def kill(self) -> None:
        """``kill -9``: no clean-up of any kind."""
        self.process.kill()
        self.process.wait(STOP_S)


def start_server(data: Path, root: Path, weights: Path, workers: int = 2, extra: tuple[str, ...] = (),
                 token_file: Optional[Path] = None) -> RunningServer:
    """``syncdesk serve`` in a process of its own, ready (its workers loaded) when this returns."""
    if token_file is None:
        token_file = data.parent / f"{data.name}.token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token = TOKEN if token_file.exists() else ""
    env = {**os.environ, "SYNCDESK_DATA_DIR": str(data), "NO_PROXY": "*"}
    for attempt in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        log = data.parent / f"{data.name}-server-{port}.log"
        with open(log, "wb") as stream:
            process = subprocess.Popen(
                [sys.executable, "-m", "syncdesk", "serve", "--host", HOST, "--port", str(port), "--root", str(root),
                 "--token-file", str(token_file), "--weights", str(weights), "--detector", "whole-frame",
                 "--device", "cpu", "--workers", str(workers), "--quiet", *extra],
                stdout=stream, stderr=subprocess.STDOUT, env=env)
        server = RunningServer(process, f"http://{HOST}:{port}", data, root, token, log)
        try:
            server.wait_ready(workers)
            return server
        except RuntimeError:
            if "address already in use" not in server.output() or attempt == 2:
                raise
    raise AssertionError("unreachable")


def wait_job(client: httpx.Client, url: str, timeout: float = JOB_S) -> dict[str, Any]:
    """Poll a job until it is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("done", "error"):
            return body
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not finish in {timeout:g} s")


def worker_pids(server: RunningServer) -> list[int]:
    """The server's child processes (its workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == server.process.pid:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root: clips of known offset, a sub-folder, and the traps (symlinks out of it)."""
    root = tmp_path_factory.mktemp("media")
    outside = tmp_path_factory.mktemp("outside")
    make_flash_clip(root / "lead.avi", audio_lead_s=0.12)
    (root / "sub dir").mkdir()
    make_flash_clip(root / "sub dir" / "lag.mp4", audio_lead_s=-0.08, seed=1)
    os.mkfifo(outside / "secret.avi")  # reading it would hang: a refusal must come without opening it
    (root / "escape.avi").symlink_to(outside / "secret.avi")
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, media: Path, oracle_weights: Path) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("server-data")
    running = start_server(data, media, oracle_weights, extra=("--max-upload-mb", "1"))
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as made:
        yield made


def analyse(client: httpx.Client, **body: Any) -> dict[str, Any]:
    created = client.post("/v1/analyses", json=body)
    assert created.status_code == 202, created.text
    assert created.headers["location"] == f"/v1/analyses/{created.json()['id']}"
    return wait_job(client, created.json()["url"])


# --------------------------------------------------------------------------- health, auth, docs


def test_health_needs_no_token_and_says_the_workers_are_ready(server):
    with server.client(token=None) as anonymous:
        health = anonymous.get("/v1/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["workers"] == {"ready": 2, "total": 2}


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789", "Basic x"])
@pytest.mark.parametrize(("method", "route"), [("GET", "/v1/roots"), ("POST", "/v1/analyses"),
                                               ("GET", "/v1/analyses/anything"), ("DELETE", "/v1/fixes/x"),
                                               ("POST", "/v1/batches")])
def test_every_other_route_needs_the_token(server, token, method, route):
    headers = {"Authorization": token if token.startswith("Basic") else f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10, trust_env=False) as anonymous:
        answer = anonymous.request(method, route, json={"path": "lead.avi"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["code"] == "unauthorised" and "Authorization: Bearer" in answer.json()["error"]


def test_openapi_and_docs_list_the_routes(server, client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/analyses", "/v1/analyses/{job_id}", "/v1/fixes", "/v1/fixes/{job_id}/file", "/v1/batches",
            "/v1/health"} <= set(schema["paths"])
    assert {"AnalysisRequest", "FixRequest", "BatchRequest", "Options"} <= set(schema["components"]["schemas"])
    body = schema["paths"]["/v1/analyses"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "POST /v1/fixes" in docs.text and "cdn" not in docs.text.lower()


def test_errors_are_json_never_a_traceback(client):
    for answer in (client.get("/v1/nothing"), client.get("/v1/analyses/0123"),
                   client.post("/v1/analyses", content=b"{not json"),
                   client.post("/v1/analyses", json={"path": "lead.avi", "colour": "red"}),
                   client.post("/v1/analyses", json={"path": "lead.avi", "options": {"vshift": 1000}}),
                   client.post("/v1/analyses", json={"path": "lead.avi", "options": {"weights": "/etc/passwd"}}),
                   client.post("/v1/analyses", json={"path": "lead.avi", "tolerance": "sometimes"}),
                   client.post("/v1/analyses", json={}),
                   client.post("/v1/analyses", content=b"x" * (1024 * 1024 + 10))):
        assert 400 <= answer.status_code < 500, answer.text
        body = answer.json()
        assert set(body) == {"error", "code"} and "Traceback" not in body["error"], body
    assert client.post("/v1/analyses", json={"path": "lead.avi", "options": {"vshift": 1000}}).json()["error"] == (
        "options.vshift: Input should be less than or equal to 100")
    assert "server's are used" in client.post(
        "/v1/analyses", json={"path": "lead.avi", "options": {"weights": "/etc/passwd"}}).json()["error"]


# --------------------------------------------------------------------------- only below the root


@pytest.mark.parametrize(("path", "status"), [
    ("../lead.avi", 403), ("sub dir/../../lead.avi", 403), ("/etc/passwd", 403), ("escape.avi", 403),
    ("elsewhere/secret.avi", 403), ("./lead.avi", 403), ("sub dir//lag.mp4", 403),
    ("lead.avi\x00.txt", 422), ("sub dir\\lag.mp4", 422), ("le\u0301ad.\u00e9vi", 422),
    ("missing.avi", 404), ("sub dir", 422), ("%2e%2e/lead.avi", 404),
])
def test_paths_outside_the_root_or_odd_are_refused_before_anything_is_read(client, path, status):
    before = [job["id"] for job in client.get("/v1/analyses").json()["analyses"]]
    answer = client.post("/v1/analyses", json={"path": path})
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] in ("outside-root", "bad-path", "not-found", "not-a-file")
    assert [job["id"] for job in client.get("/v1/analyses").json()["analyses"]] == before  # no job made


def test_a_lone_surrogate_is_refused(client):
    answer = client.post("/v1/analyses", content=b'{"path": "lead\\udc80.avi"}',
                         headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "surrogate" in answer.json()["error"]


def test_roots_are_listed_by_name_only(server, client):
    assert client.get("/v1/roots").json()["roots"] == [{"name": server.root.name}]
    assert str(server.root) not in client.get("/v1/roots").text
    answer = client.post("/v1/analyses", json={"path": "lead.avi", "root": "other"})
    assert answer.status_code == 404 and "GET /v1/roots" in answer.json()["error"]


# --------------------------------------------------------------------------- analyses by path


def test_a_clip_of_known_offset_by_path(server, client):
    job = analyse(client, path="lead.avi", tolerance="ebu-r37")
    assert job["status"] == "done" and job["error"] is None and job["progress"] == 1.0 and job["runs"] == 1
    document = job["document"]
    assert document["schema"] == "syncdesk.analysis/1"
    assert document["offset_frames"] == 3 and document["offset_ms"] == pytest.approx(120, abs=20)
    assert document["source"]["path"] == "lead.avi"  # the client's name, not the server's folders
    assert document["tolerance"]["name"] == "ebu-r37" and document["tolerance"]["result"] == "outside"
    assert job["summary"]["offset_frames"] == 3
    saved = client.get(f"/v1/analyses/{job['id']}/document")
    assert saved.status_code == 200 and json.loads(saved.content) == document
    assert 'filename="lead.analysis.json"' in saved.headers["content-disposition"]
    light = client.get(f"/v1/analyses/{job['id']}", params={"document": "false"}).json()
    assert light["document"] is None and light["summary"]["offset_frames"] == 3


def test_per_request_options_and_a_sub_folder(client):
    job = analyse(client, path="sub dir/lag.mp4", options={"vshift": 5, "min_track": 50, "exact": True})
    assert job["status"] == "done", job["error"]
    assert job["document"]["offset_frames"] == -2
    assert job["document"]["engine"]["mode"] == "exact"
