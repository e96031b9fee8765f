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

from .oracle import flash_pattern, make_flash_clip
from .test_export import packets

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
                 own_token: bool = False) -> RunningServer:
    """``syncdesk serve`` in a process of its own, ready (its workers loaded) when this returns.
    ``own_token``: no --token-file, the server's own (generated on its first start, in the data folder)."""
    token_args: tuple[str, ...] = ()
    if not own_token:
        token_file = data.parent / f"{data.name}.token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")
        token_args = ("--token-file", str(token_file))
    env = {**os.environ, "SYNCDESK_DATA_DIR": str(data), "NO_PROXY": "*"}
    for attempt in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        log = data.parent / f"{data.name}-server-{port}.log"
        with open(log, "wb") as stream:
            process = subprocess.Popen(
                [sys.executable, "-m", "syncdesk", "serve", "--host", HOST, "--port", str(port), "--root", str(root),
                 *token_args, "--weights", str(weights), "--detector", "whole-frame",
                 "--device", "cpu", "--workers", str(workers), "--quiet", *extra],
                stdout=stream, stderr=subprocess.STDOUT, env=env)
        token = TOKEN if not own_token else ""
        server = RunningServer(process, f"http://{HOST}:{port}", data, root, token, log)
        try:
            server.wait_ready(workers)
            if own_token:
                server.token = (data / "server" / "token").read_text(encoding="utf-8").strip()
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
    """The server's child processes (its workers, and multiprocessing's resource tracker), from /proc."""
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
    make_flash_clip(root / "long.mp4", seconds=8.0, audio_lead_s=0.12, seed=2)
    make_flash_clip(root / "weak.avi", audio_lead_s=0.12, video_pattern=flash_pattern(102, seed=7))
    make_flash_clip(root / "slow.avi", seconds=30.0, audio_lead_s=0.04, seed=3)  # long enough to cancel
    batch = root / "batch"
    batch.mkdir()
    make_flash_clip(batch / "a.avi", audio_lead_s=0.12)
    make_flash_clip(batch / "b.mp4", audio_lead_s=-0.08, seed=1)
    (batch / "notes.txt").write_text("not a video", encoding="utf-8")
    (batch / "out.avi").symlink_to(outside / "secret.avi")
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


# --------------------------------------------------------------------------- uploads


def upload(client: httpx.Client, path: Path, name: Optional[str] = None, route: str = "/v1/analyses",
           **fields: str) -> httpx.Response:
    with open(path, "rb") as stream:
        return client.post(route, files={"file": (name or path.name, stream, "application/octet-stream")},
                           data=fields)


def job_folders(server: RunningServer) -> set[str]:
    return {entry.name for entry in (server.data / "server" / "jobs").iterdir()}


def test_a_clip_of_known_offset_by_upload_and_its_files_go_with_the_job(server, client, media):
    created = upload(client, media / "sub dir" / "lag.mp4", name="../../takes/Take 1<final>.mp4",
                     options=json.dumps({"vshift": 8}), tolerance="40/60")
    assert created.status_code == 202, created.text
    job = wait_job(client, created.json()["url"])
    assert job["status"] == "done", job["error"]
    assert job["document"]["offset_frames"] == -2 and job["document"]["source"]["path"] == "Take 1_final_.mp4"
    assert job["document"]["tolerance"]["lead_ms"] == 40
    folder = server.data / "server" / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["analysis.json", "upload.mp4"]
    assert client.delete(job["url"]).status_code == 204
    assert not folder.exists() and client.get(job["url"]).status_code == 404


def test_random_bytes_end_in_error_and_the_server_stays_up(server, client, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(200_000))
    job = wait_job(client, upload(client, junk, name="junk.mp4").json()["url"])
    assert job["status"] == "error" and job["document"] is None
    assert "junk.mp4" in job["error"] and str(server.data) not in job["error"] and "Traceback" not in job["error"]
    assert client.get("/v1/health").json()["status"] == "ok"
    assert analyse(client, path="lead.avi")["status"] == "done"  # and it still analyses


def test_an_oversized_upload_is_refused_and_leaves_no_file(server, client, tmp_path):
    big = tmp_path / "big.avi"
    big.write_bytes(os.urandom(3 * 1024 * 1024))  # the module's server takes 1 MB
    before = job_folders(server)
    answer = upload(client, big)
    assert answer.status_code == 413 and "--max-upload-mb" in answer.json()["error"]
    assert list((server.data / "server" / "incoming").iterdir()) == []
    assert job_folders(server) == before
    assert client.get("/v1/health").status_code == 200


def test_an_oversized_upload_announced_with_expect_continue_is_refused_before_it_is_sent(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall((f"POST /v1/analyses HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {server.token}\r\n"
                     "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 500000000\r\n"
                     "Expect: 100-continue\r\n\r\n").encode())
        answer = raw.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


@pytest.mark.parametrize(("content", "status", "words"), [
    (b"--x\r\nContent-Disposition: form-data; name=\"options\"\r\n\r\n{}\r\n--x--\r\n", 422, "no field \"file\""),
    (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.avi\"\r\n\r\nabc", 400, "cut short"),
    (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.avi\"\r\n\r\nabc\r\n--x\r\n"
     b"Content-Disposition: form-data; name=\"file\"; filename=\"b.avi\"\r\n\r\nabc\r\n--x--\r\n", 422, "one file"),
    (b"--x\r\nContent-Disposition: form-data; name=\"other\"; filename=\"a.avi\"\r\n\r\nabc\r\n--x--\r\n", 422,
     "only the field"),
    (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.avi\"\r\n\r\nabc\r\n--x\r\n"
     b"Content-Disposition: form-data; name=\"options\"\r\n\r\n{nope\r\n--x--\r\n", 422, "options: not JSON"),
])
def test_broken_forms_are_refused_and_leave_no_file(server, client, content, status, words):
    before = job_folders(server)
    answer = client.post("/v1/analyses", content=content,
                         headers={"content-type": "multipart/form-data; boundary=x"})
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    assert list((server.data / "server" / "incoming").iterdir()) == []
    assert job_folders(server) == before


# --------------------------------------------------------------------------- fixes and downloads


def fix(client: httpx.Client, **body: Any) -> dict[str, Any]:
    created = client.post("/v1/fixes", json=body)
    assert created.status_code == 202, created.text
    return wait_job(client, created.json()["url"])


def test_auto_fix_reads_zero_after_and_copies_the_video_bit_for_bit(server, client, media, tmp_path):
    job = fix(client, path="long.mp4", auto=True, force=True)
    assert job["status"] == "done", job["error"]
    result = job["result"]
    assert result["written"] and result["applied"] == "constant" and result["analysis"]["offset_frames"] == 3
    assert result["message"].startswith("audio delayed by") and result["message"].endswith("wrote long.synced.mp4")
    download = client.get(job["file"])
    assert download.status_code == 200 and 'filename="long.synced.mp4"' in download.headers["content-disposition"]
    fixed = tmp_path / "long.synced.mp4"
    fixed.write_bytes(download.content)
    assert packets(fixed) == packets(media / "long.mp4")
    again = wait_job(client, upload(client, fixed, options=json.dumps({"exact": True})).json()["url"])
    assert again["status"] == "done" and abs(again["document"]["offset_frames"]) <= 1
    applied = client.get(job["document"])
    assert applied.status_code == 200 and json.loads(applied.content)["offset_frames"] == 3


def test_a_low_confidence_auto_fix_is_refused_unless_forced(client):
    job = fix(client, path="weak.avi", auto=True)
    assert job["status"] == "error" and "below 4" in job["error"] and '"force": true' in job["error"]
    assert job["file"] is None


def test_a_fix_from_a_finished_analysis_applies_its_document(client):
    analysis = analyse(client, path="lead.avi")
    job = fix(client, analysis=analysis["id"], auto=True, force=True)
    assert job["status"] == "done", job["error"]
    assert job["result"]["analysis"]["cached"] and job["result"]["offset_ms"] == analysis["document"]["offset_ms"]
    assert client.get(job["file"]).status_code == 200


def test_a_fix_of_an_uploaded_analysis_outlives_the_analysis(server, client, media):
    analysis = wait_job(client, upload(client, media / "sub dir" / "lag.mp4").json()["url"])
    created = client.post("/v1/fixes", json={"analysis": analysis["id"], "offset_frames": -2})
    assert client.delete(analysis["url"]).status_code == 204
    job = wait_job(client, created.json()["url"])
    assert job["status"] == "done" and job["result"]["message"].startswith("audio advanced by 80 ms")
    assert 'filename="lag.synced.mp4"' in client.get(job["file"]).headers["content-disposition"]


def test_fixes_by_upload_offset_and_segments(client, media):
    created = upload(client, media / "sub dir" / "lag.mp4", name="my take.mp4", route="/v1/fixes", offset_ms="-80")
    job = wait_job(client, created.json()["url"])
    assert job["status"] == "done" and job["result"]["applied_ms"] == pytest.approx(-80)
    assert client.get(job["file"]).headers["content-disposition"] == (
        "attachment; filename=\"my take.synced.mp4\"; filename*=UTF-8''my%20take.synced.mp4")
    job = fix(client, path="lead.avi", segments=[{"start_s": 0, "end_s": 4, "offset_ms": 120}])
    assert job["status"] == "done" and job["result"]["applied_ms"] == pytest.approx(120)


def test_nothing_to_fix_writes_nothing_and_says_so(client):
    job = fix(client, path="lead.avi", offset_ms=0)
    assert job["status"] == "done" and not job["result"]["written"] and "nothing written" in job["result"]["message"]
    answer = client.get(f"{job['url']}/file")
    assert answer.status_code == 404 and "nothing written" in answer.json()["error"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"path": "lead.avi"}, 422, "exactly one of offset_ms"),
    ({"path": "lead.avi", "offset_ms": 10, "auto": True}, 422, "exactly one of"),
    ({"path": "lead.avi", "offset_ms": 1e9}, 422, "offset_ms: must be"),
    ({"path": "lead.avi", "segments": [{"start_s": 3, "end_s": 1, "offset_ms": 0}]}, 422, "segments:"),
    ({"path": "../lead.avi", "offset_ms": 10}, 403, "refused"),
    ({"analysis": "nope", "offset_ms": 10}, 404, "no analysis"),
])
def test_bad_fixes_are_refused(client, body, status, words):
    answer = client.post("/v1/fixes", json=body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_a_fix_needs_a_suffix_that_names_the_container(client, media):
    answer = upload(client, media / "lead.avi", name="clip.bin", route="/v1/fixes", offset_ms="40")
    assert answer.status_code == 422 and answer.json()["code"] == "bad-container"


# --------------------------------------------------------------------------- progress, cancel, batches


def events(client: httpx.Client, url: str, timeout: float = JOB_S) -> list[tuple[str, dict[str, Any]]]:
    """A job's server-sent events until ``end`` (bounded in time)."""
    found: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"{url}/events", timeout=httpx.Timeout(10, read=30)) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, "the event stream did not end"
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                found.append((name or "message", json.loads(line.removeprefix("data: "))))
                if name == "end":
                    break
    return found


def test_progress_streams_as_server_sent_events(client):
    created = client.post("/v1/analyses", json={"path": "long.mp4"}).json()
    seen = events(client, created["url"])
    assert [name for name, _ in seen][-1] == "end" and seen[-1][1]["status"] == "done"
    fractions = [data["progress"] for _, data in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {data["status"] for _, data in seen} <= {"queued", "running", "done"}
    assert seen[-1][1]["summary"]["offset_frames"] == 3


def test_cancel_a_queued_and_a_running_analysis(client):
    ids = [client.post("/v1/analyses", json={"path": "slow.avi", "options": {"exact": True, "vshift": 10 + n}}).json()
           ["id"] for n in range(3)]  # two workers: the third waits
    deadline = time.monotonic() + JOB_S
    while client.get(f"/v1/analyses/{ids[0]}").json()["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    queued = client.delete(f"/v1/analyses/{ids[2]}")
    assert queued.status_code == 202 and queued.json()["status"] == "error" and queued.json()["cancelled"]
    assert queued.json()["runs"] == 0
    for job_id in ids[:2]:
        assert client.delete(f"/v1/analyses/{job_id}").status_code == 202
    for job_id in ids:
        job = wait_job(client, f"/v1/analyses/{job_id}", timeout=30)
        assert job["status"] == "error" and job["cancelled"] and job["error"] == "cancelled by a client"
    assert client.get("/v1/health").json()["workers"]["ready"] == 2  # the workers stay
    for job_id in ids:
        assert client.delete(f"/v1/analyses/{job_id}").status_code == 204


def test_a_batch_over_a_folder_below_the_root(server, client):
    created = client.post("/v1/batches", json={"folder": "batch", "preset": "relaxed",
                                               "options": {"vshift": 10}})
    assert created.status_code == 202, created.text
    seen = events(client, created.json()["url"])
    assert seen[-1][1]["status"] == "done" and seen[-1][1]["progress"] == 1.0
    batch = client.get(created.json()["url"]).json()
    rows = {row["path"]: row for row in batch["files"]}
    assert set(rows) == {"batch/a.avi", "batch/b.mp4", "batch/notes.txt", "batch/out.avi"}
    assert rows["batch/a.avi"]["offset_frames"] == 3 and rows["batch/b.mp4"]["offset_frames"] == -2
    assert rows["batch/a.avi"]["status"] in ("good", "poor")
    assert rows["batch/notes.txt"]["status"] == "skipped" and "not a video" in rows["batch/notes.txt"]["error"]
    assert rows["batch/out.avi"]["status"] == "skipped" and "out of the root" in rows["batch/out.avi"]["error"]
    assert sum(batch["counts"].values()) == 4
    child = client.get(f"/v1/analyses/{rows['batch/a.avi']['id']}").json()
    assert child["batch"] == batch["id"] and child["document"]["offset_frames"] == 3
    assert client.delete(f"/v1/analyses/{child['id']}").status_code == 409  # it goes with its batch
    assert client.delete(batch["url"]).status_code == 204
    assert client.get(f"/v1/analyses/{child['id']}").status_code == 404


@pytest.mark.parametrize(("body", "status"), [({"folder": "../"}, 403), ({"folder": "elsewhere"}, 403),
                                              ({"folder": "lead.avi"}, 422), ({"folder": "nope"}, 404),
                                              ({"folder": "batch", "preset": "lenient"}, 422)])
def test_bad_batches_are_refused(client, body, status):
    answer = client.post("/v1/batches", json=body)
    assert answer.status_code == status, answer.text


# --------------------------------------------------------------------------- the command line's client


def test_analyze_with_server_prints_what_a_local_run_prints(server, media, oracle_weights, tmp_path, capsys,
                                                             monkeypatch):
    from syncdesk.cli import main

    clip = media / "sub dir" / "lag.mp4"
    assert main(["analyze", str(clip), "--detector", "whole-frame", "--weights", str(oracle_weights), "--quiet"]) == 0
    local = capsys.readouterr().out.splitlines()
    monkeypatch.setenv("SYNCDESK_TOKEN", server.token)
    out = tmp_path / "remote.json"
    assert main(["analyze", str(clip), "--server", server.url, "--detector", "whole-frame", "--json", str(out),
                 "--quiet"]) == 0
    remote = capsys.readouterr().out.splitlines()
    same = lambda lines: [line for line in lines if not line.startswith(("  engine", "  wrote"))]  # noqa: E731
    assert same(remote) == same(local) and remote[0].startswith("lag.mp4: audio lags video by")
    assert json.loads(out.read_text(encoding="utf-8"))["source"]["path"] == str(clip)


def test_analyze_with_server_reads_the_token_file_and_says_what_is_wrong(server, media, tmp_path, capsys,
                                                                          monkeypatch):
    from syncdesk.cli import main

    monkeypatch.delenv("SYNCDESK_TOKEN", raising=False)
    clip = str(media / "lead.avi")
    token_file = tmp_path / "token"
    token_file.write_text(server.token + "\n", encoding="utf-8")
    assert main(["analyze", clip, "--server", server.url, "--token-file", str(token_file), "--quiet"]) == 0
    assert "+3 frames" in capsys.readouterr().out
    wrong = tmp_path / "wrong"
    wrong.write_text("x" * 32, encoding="utf-8")
    assert main(["analyze", clip, "--server", server.url, "--token-file", str(wrong), "--quiet"]) == 1
    assert "(401)" in capsys.readouterr().err
    assert main(["analyze", clip, "--server", server.url, "--quiet"]) == 1
    assert "SYNCDESK_TOKEN" in capsys.readouterr().err
    assert main(["analyze", clip, "--server", f"http://{HOST}:{free_port()}", "--token-file", str(token_file),
                 "--quiet"]) == 1
    assert "cannot reach the server" in capsys.readouterr().err
    assert main(["analyze", clip, "--server", server.url, "--token-file", str(token_file), "--weights", clip]) == 1
    assert "cannot be sent to a server" in capsys.readouterr().err
    assert main(["analyze", clip, "--token-file", str(token_file)]) == 2


def test_client_names_keep_letters_of_any_script_and_nothing_else():
    from syncdesk.server.security import attachment, safe_name, safe_suffix

    assert safe_name("../../Été à Paris.mp4") == "Été à Paris.mp4"
    assert safe_name("a\x00b<script>.mov") == "a_b_script_.mov" and safe_name("..") == "upload"
    assert safe_suffix("clip.MP4") == ".mp4" and safe_suffix("clip.mp4;rm -rf") == ""
    assert attachment("Été.mp4") == "attachment; filename=\"_t_.mp4\"; filename*=UTF-8''%C3%89t%C3%A9.mp4"


def test_a_segment_list_with_steps_is_applied_along_the_file(client):
    job = fix(client, path="long.mp4", segments=[{"start_s": 0, "end_s": 4, "offset_ms": 0},
                                                {"start_s": 4, "end_s": 8, "offset_ms": 120}])
    assert job["status"] == "done", job["error"]
    assert job["result"]["applied"] == "steps" and job["result"]["message"].startswith("2 segments shifted")


def test_auto_applies_what_the_model_says_as_fix_auto_does():
    from types import SimpleNamespace

    from syncdesk.core import SyncdeskError, SyncOverTime, SyncPoint, SyncSegment
    from syncdesk.server.tasks import auto_plan

    def analysis(over_time, offset_ms=120.0, confidence=8.0):
        return SimpleNamespace(offset_ms=offset_ms, offset_frames=round(offset_ms / 40), confidence=confidence,
                               sync_over_time=over_time, tolerance=None)

    steps = SyncOverTime(2.0, 1.0, [SyncPoint(t + 0.5, 0.0 if t < 4 else 120.0, 8.0) for t in range(8)], "steps",
                         None, [SyncSegment(0, 4, 0.0, 8.0), SyncSegment(4, 8, 120.0, 8.0)])
    assert auto_plan(analysis(steps), False, None, False) == (None, steps, None)
    with pytest.raises(SyncdeskError, match="lossless"):
        auto_plan(analysis(steps), False, None, True)
    for point in steps.points[4:]:
        point.confidence = 1.0
    with pytest.raises(SyncdeskError, match="only 0 of its 4 windows"):
        auto_plan(analysis(steps), False, None, False)
    assert auto_plan(analysis(steps), True, None, False)[1] is steps  # forced
    assert auto_plan(analysis(None), False, None, False) == (120.0, None, None)
    assert "in sync" in auto_plan(analysis(None, offset_ms=10.0), False, None, False)[2]
    with pytest.raises(SyncdeskError, match="below 4"):
        auto_plan(analysis(None, confidence=2.0), False, None, False)


def test_serve_refuses_bad_usage_and_missing_weights_before_it_listens(tmp_path, capsys):
    from syncdesk.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", "70000"])
    assert exit_.value.code == 2
    assert main(["serve", "--ssl-certfile", str(tmp_path / "cert.pem")]) == 2
    assert "go together" in capsys.readouterr().err
    assert main(["serve", "--root", str(tmp_path)]) == 1  # no weights in this test's data folder
    assert "weights are missing" in capsys.readouterr().err
    assert main(["serve", "--root", str(tmp_path / "nowhere"), "--weights", __file__]) == 1
    assert "no such folder" in capsys.readouterr().err
    short = tmp_path / "short.token"
    short.write_text("abc\n", encoding="utf-8")
    assert main(["serve", "--token-file", str(short), "--weights", __file__]) == 1
    assert "at least 16" in capsys.readouterr().err
