"""``syncdesk batch --executor ray`` on Ray's own multi-node simulation: two nodes of one CPU each
(``ray.cluster_utils.Cluster``), every process on 127.0.0.1. The same report as ``--executor local``,
files sent through the object store, a node lost mid-batch, the driver interrupted and killed and
run again, an unreachable cluster; the module's cluster is stopped at the end and no Ray process
of it is left."""

from __future__ import annotations

import os

# Ray on 127.0.0.1 only: told nothing, Ray takes the machine's outward address even for a node
# started on 127.0.0.1 (this variable, Ray's own for one-machine use, keeps every node, driver and
# worker on the loopback, in this process and the commands it starts); no usage report; and one
# authentication mode for every cluster here (a local ray.init() would otherwise turn token
# authentication on for this process, and the module's cluster, started without, would refuse it)
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"

import json  # noqa: E402
from collections import Counter  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from syncdesk.cli import main  # noqa: E402
from syncdesk.core.batch.executors import Finished, Lost  # noqa: E402
from syncdesk.core.batch.ray_executor import Plan, RayExecutor, plan  # noqa: E402
from syncdesk.core.batch.report import rows  # noqa: E402
from syncdesk.core.batch.runner import BatchRunner, JobUpdate  # noqa: E402
from syncdesk.core.batch.session import prepare  # noqa: E402
from syncdesk.core.batch.store import DONE, ERROR, FINISHED, JobStore, default_path  # noqa: E402
from syncdesk.core.options import AnalysisOptions  # noqa: E402
from syncdesk.core.quality import PRESETS  # noqa: E402

from .oracle import make_flash_clip  # noqa: E402

FAST = ["--detector", "whole-frame"]
#: clip name -> offset in frames (the audio leads by that many 40 ms frames)
OFFSETS = {f"clip{index}.avi": index - 3 for index in range(8)}


#: in the environment of every process of the module's cluster (its nodes' and the workers they start)
MARK = f"SYNCDESK_TEST_RAY_CLUSTER={os.getpid()}"


def _cluster_processes() -> list[str]:
    """Command lines of the live processes of the module's cluster."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(os.getpid()):
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if MARK.encode() in environ and state != "Z":
            found.append(cmdline)
    return found


@pytest.fixture(scope="module")
def nodes_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The nodes' own data folder (their analysis caches), not the driver's: as on other machines."""
    return tmp_path_factory.mktemp("ray-nodes")


@pytest.fixture(scope="module")
def cluster(nodes_data: Path):
    """A head and one more node, one CPU each, every process on 127.0.0.1, no dashboard."""
    with pytest.MonkeyPatch.context() as env:  # what the nodes' processes inherit
        env.setenv("SYNCDESK_DATA_DIR", str(nodes_data))
        env.setenv(*MARK.split("="))
        made = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
        try:
            made.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        except BaseException:
            made.shutdown()
            raise
    try:
        assert made.address.startswith("127.0.0.1:")
        assert {node.node_ip_address for node in [made.head_node, *made.worker_nodes]} == {"127.0.0.1"}
        assert any("raylet" in line for line in _cluster_processes())  # the check below sees them
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
        deadline = time.monotonic() + 30
        while _cluster_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _cluster_processes() == [], "Ray processes left behind"


@pytest.fixture
def fresh_nodes(cluster, nodes_data: Path):
    """The cluster with its nodes' analysis caches empty: each test's files are analysed for real."""
    shutil.rmtree(nodes_data / "cache", ignore_errors=True)
    yield cluster
    assert not ray.is_initialized(), "a test left this process joined to Ray"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight clips of known offset (-3..+4 frames) and a corrupt file."""
    root = tmp_path_factory.mktemp("ray-clips")
    for index, name in enumerate(OFFSETS):
        make_flash_clip(root / name, seed=index, audio_lead_s=0.04 * OFFSETS[name])
    (root / "corrupt.avi").write_bytes(b"\x00not a video" * 1000)
    return root


def _report(out: Path) -> dict[str, dict]:
    entries = json.loads((out / "report.json").read_text(encoding="utf-8"))["files"]
    names = [Path(entry["path"]).name for entry in entries]
    assert len(names) == len(set(names)), "a file is reported twice"
    return {Path(entry["path"]).name: entry for entry in entries}


def _expected(entries: dict[str, dict]) -> None:
    assert set(entries) == {*OFFSETS, "corrupt.avi"}
    assert {name: entries[name]["offset"] for name in OFFSETS} == OFFSETS
    assert entries["corrupt.avi"]["status"] == "error"
    assert "not a video file, or it is corrupt" in entries["corrupt.avi"]["error"]


def _jobs() -> dict[str, tuple[str, int, float]]:
    """File name -> (state, analyses, finished_at), read as another process would."""
    if not default_path().exists():
        return {}
    import sqlite3

    db = sqlite3.connect(default_path(), timeout=10)
    try:
        found = db.execute("SELECT path, state, analyses, finished_at FROM jobs").fetchall()
    except sqlite3.OperationalError:  # the table is being created
        return {}
    finally:
        db.close()
    return {Path(os.fsdecode(path)).name: (state, n, finished) for path, state, n, finished in found}


def _finished(jobs: dict) -> dict:
    return {name: job for name, job in jobs.items() if job[0] in FINISHED}


def test_the_cluster_gives_the_report_local_processes_give(fresh_nodes, folder, tmp_path, oracle_weights,
                                                          monkeypatch, capsys):
    common = ["batch", str(folder), "--preset", "relaxed", "--weights", str(oracle_weights), "--quiet", *FAST]
    assert main([*common, "--workers", "2", "--report", str(tmp_path / "local")]) == 0
    monkeypatch.setenv("SYNCDESK_DATA_DIR", str(tmp_path / "driver"))  # a fresh queue: analyse it all again
    start = time.monotonic()
    assert main([*common, "--executor", "ray", "--ray-address", fresh_nodes.address,
                 "--report", str(tmp_path / "ray")]) == 0
    elapsed = time.monotonic() - start
    local, on_ray = _report(tmp_path / "local"), _report(tmp_path / "ray")
    _expected(on_ray)
    keys = ("status", "offset", "offset_ms", "confidence", "min_dist", "error")
    assert {name: [entry[key] for key in keys] for name, entry in on_ray.items()} == \
           {name: [entry[key] for key in keys] for name, entry in local.items()}
    assert all(state == DONE or name == "corrupt.avi" for name, (state, _, _) in _jobs().items())
    assert all(n == 1 for _, n, _ in _jobs().values())  # each file analysed once
    # the QC report's pages come from the driver's cache: the documents came back from the nodes
    assert "evicted" not in (tmp_path / "ray" / "index.html").read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert printed.count("9 files: ") == 2
    print(f"ray batch of 9 files on two one-CPU nodes: {elapsed:.1f} s")


def test_shipped_files_need_no_shared_file_system(fresh_nodes, folder, tmp_path, oracle_weights, monkeypatch):
    """With ``ship_files`` the driver reads each file and the actor analyses its own copy: the file
    is moved away the moment it is handed out, and still analysed; a file over the limit is an
    error row that says so."""
    import syncdesk.core.batch.ray_executor as ray_executor

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("clip0.avi", "clip5.avi", "corrupt.avi"):
        shutil.copy(folder / name, clips / name)
    big = make_flash_clip(clips / "big.avi", seconds=6.0, seed=9)
    monkeypatch.setattr(ray_executor, "SHIP_LIMIT_BYTES", big.stat().st_size - 1)
    moved = tmp_path / "moved"
    moved.mkdir()

    def on_update(update: JobUpdate) -> None:
        if update.state == "running" and update.job.path.exists():
            update.job.path.rename(moved / update.job.path.name)

    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    with JobStore() as store, RayExecutor(options, address=fresh_nodes.address, ship_files=True) as executor:
        batch = prepare([clips], options, store)
        BatchRunner(store, options, on_update=on_update, executor=executor).run(batch.pending())
        jobs = {job.path.name: job for job in batch.refreshed(store).jobs}
    assert not list(clips.iterdir())  # every file was moved away before an actor could read it
    assert {name: job.result["offset_frames"] for name, job in jobs.items() if job.state == DONE} == \
           {"clip0.avi": OFFSETS["clip0.avi"], "clip5.avi": OFFSETS["clip5.avi"]}
    assert jobs["corrupt.avi"].state == ERROR and "corrupt" in jobs["corrupt.avi"].message
    assert jobs["big.avi"].state == ERROR and "--ship-files sends files of up to" in jobs["big.avi"].message


def test_an_actor_with_several_slots_analyses_files_at_once(fresh_nodes, folder, oracle_weights, monkeypatch):
    """An actor that owns a GPU analyses several files at once; the same path, one CPU actor here."""
    import syncdesk.core.batch.ray_executor as ray_executor

    monkeypatch.setattr(ray_executor, "plan", lambda *args: Plan(actors=1, cpus=1, gpus=0, slots=3))
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    updates: list[JobUpdate] = []
    with JobStore() as store, RayExecutor(options, address=fresh_nodes.address) as executor:
        batch = prepare([folder / name for name in ("clip1.avi", "clip2.avi", "clip3.avi")], options, store)
        BatchRunner(store, options, on_update=updates.append, executor=executor).run(batch.pending())
        jobs = batch.refreshed(store).jobs
    assert [job.result["offset_frames"] for job in jobs] == [-2, -1, 0]
    first_done = next(index for index, update in enumerate(updates) if update.state == DONE)
    # a file's first update is its dispatch; any later one is the actor's progress report, which
    # covers only the files it has started: more than one ran before any finished
    reports = Counter(update.job.id for update in updates[:first_done] if update.state == "running")
    assert sum(1 for count in reports.values() if count > 1) >= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_worker_process_killed_mid_file_costs_one_more_try(fresh_nodes, folder, oracle_weights):
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    killed: list[int] = []

    def on_update(update: JobUpdate) -> None:
        if update.fraction > 0 and not killed:  # an analysis is under way: end one actor's process
            [pid, *_] = [int(proc.name) for proc in Path("/proc").iterdir() if proc.name.isdigit()
                         and _is_actor(proc)]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with JobStore() as store, RayExecutor(options, address=fresh_nodes.address) as executor:
        batch = prepare([folder / name for name in ("clip0.avi", "clip1.avi", "clip2.avi", "clip3.avi")],
                        options, store)
        BatchRunner(store, options, on_update=on_update, executor=executor).run(batch.pending())
        jobs = batch.refreshed(store).jobs
    assert killed
    assert [job.result["offset_frames"] for job in jobs] == [-3, -2, -1, 0]
    assert max(job.analyses for job in jobs) == 2  # what the process had was handed out once more


def _is_actor(proc: Path) -> bool:
    try:
        return (proc / "cmdline").read_bytes().startswith(b"ray::Analyser") \
            and MARK.encode() in (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


class _Crashing:
    """An executor whose every try of ``poison.avi`` is lost with its worker; the rest are done."""

    retries = 2

    def __init__(self) -> None:
        self.events_due: list = []

    def start(self, files: int) -> None:
        pass

    def free_slots(self) -> int:
        return 1

    def submit(self, job_id: int, path: Path) -> bool:
        self.events_due.append(Lost(job_id, "its Ray worker on 10.0.0.7 was lost (its node has died)")
                               if path.name == "poison.avi" else Finished(job_id, DONE, {"offset_frames": 0}, None))
        return True

    def busy(self) -> bool:
        return bool(self.events_due)

    def events(self, timeout: float) -> list:
        due, self.events_due = self.events_due, []
        return due

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_file_lost_on_every_try_becomes_an_error_row_after_three(tmp_path, oracle_weights):
    for name in ("a.avi", "poison.avi", "b.avi"):
        (tmp_path / name).write_bytes(b"\x00" * 100)
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    updates: list[JobUpdate] = []
    with JobStore() as store:
        batch = prepare([tmp_path], options, store)
        BatchRunner(store, options, on_update=updates.append, executor=_Crashing()).run(batch.pending())
        jobs = {job.path.name: job for job in batch.refreshed(store).jobs}
    poison = jobs.pop("poison.avi")
    assert poison.state == ERROR and poison.analyses == 3
    assert poison.message == "poison.avi: its Ray worker on 10.0.0.7 was lost (its node has died) (tried 3 times)"
    assert [update.state for update in updates if update.job.id == poison.id] == \
           ["running", "queued", "running", "queued", "running", "error"]
    assert {name: (job.state, job.analyses) for name, job in jobs.items()} == {"a.avi": (DONE, 1), "b.avi": (DONE, 1)}


def test_without_an_address_the_batch_starts_a_ray_of_its_own(fresh_nodes, folder, oracle_weights):
    """Not the cluster ``ray start`` (here: the module's) left running on this machine: Ray itself
    would join that one."""
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    joined: list[str] = []

    def on_update(update: JobUpdate) -> None:
        joined.append(ray.get_runtime_context().gcs_address)

    with JobStore() as store, RayExecutor(options) as executor:
        batch = prepare([folder / "clip4.avi"], options, store)
        BatchRunner(store, options, on_update=on_update, executor=executor).run(batch.pending())
        [job] = batch.refreshed(store).jobs
    assert job.result["offset_frames"] == OFFSETS["clip4.avi"]
    assert joined and fresh_nodes.address not in joined and not ray.is_initialized()


def test_plan_asks_for_a_gpu_per_actor_where_the_cluster_has_gpus():
    gpu_node, cpu_node = {"CPU": 32.0, "GPU": 4.0, "memory": 1e11}, {"CPU": 16.0}
    # one actor per GPU, with the CPUs that go with a GPU (its files at once)
    assert plan([gpu_node, gpu_node, cpu_node], "auto") == Plan(actors=8, cpus=8, gpus=1, slots=8)
    assert plan([gpu_node], "cuda", workers=2, cpus_per_worker=6) == Plan(2, 6, 1, 6)
    # --device cpu: CPU actors on every node, as many as fit on each
    assert plan([gpu_node, gpu_node, cpu_node], "cpu") == Plan(actors=80, cpus=1, gpus=0, slots=1)
    assert plan([{"CPU": 3.0}, {"CPU": 3.0}], "auto", cpus_per_worker=2) == Plan(actors=2, cpus=2, gpus=0, slots=1)
    # more than fit: they wait for room (an autoscaler's new nodes)
    assert plan([{"CPU": 2.0}], "auto", workers=5) == Plan(actors=5, cpus=1, gpus=0, slots=1)
    assert plan([{"CPU": 0.0}], "auto") == Plan(actors=1, cpus=1, gpus=0, slots=1)  # a head that runs nothing


def _batch_process(folder: Path, out: Path, weights: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "syncdesk", "batch", str(folder), "--executor", "ray",
                             "--ray-address", address, "--report", str(out), "--weights", str(weights), *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals, /proc")
def test_ctrl_c_then_kill_9_then_run_again_reports_each_file_once(fresh_nodes, folder, tmp_path, oracle_weights):
    out = tmp_path / "out"
    process = _batch_process(folder, out, oracle_weights, fresh_nodes.address)
    _wait_for(lambda: _finished(_jobs()) and "running" in {state for state, _, _ in _jobs().values()}, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("syncdesk: interrupted: "), stderr
    assert stdout == "" and not out.exists()
    stopped = _jobs()
    assert "running" not in {state for state, _, _ in stopped.values()}
    interrupted = _finished(stopped)

    process = _batch_process(folder, out, oracle_weights, fresh_nodes.address)
    _wait_for(lambda: len(_finished(_jobs())) > len(interrupted), process)
    assert any("Analyser" in line for line in _cluster_processes())
    process.kill()
    process.wait(30)
    killed = _jobs()
    done_before = _finished(killed)
    assert all(killed[name] == job for name, job in interrupted.items())
    assert len(done_before) < len(killed) == 9 and not out.exists()
    # the driver's actors end with it (Ray's fate-sharing): nothing of its batch runs on
    deadline = time.monotonic() + 30
    while any("Analyser" in line for line in _cluster_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any("Analyser" in line for line in _cluster_processes())

    assert main(["batch", str(folder), "--executor", "ray", "--ray-address", fresh_nodes.address, "--quiet",
                 "--report", str(out), "--weights", str(oracle_weights), *FAST]) == 0
    after = _jobs()
    assert all(after[name] == job for name, job in done_before.items())  # not analysed again
    _expected(_report(out))
    assert {state for state, _, _ in after.values()} == {DONE, ERROR}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_cluster_is_one_line_and_exit_1(folder, oracle_weights, capsys):
    address = f"127.0.0.1:{_free_port()}"
    start = time.monotonic()
    assert main(["batch", str(folder), "--executor", "ray", "--ray-address", address,
                 "--weights", str(oracle_weights), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"syncdesk: error: cannot reach the Ray cluster at {address}")
    assert time.monotonic() - start < 30 and not ray.is_initialized()
    assert not default_path().exists() or _jobs() == {}  # refused before the folder was queued


def test_without_ray_the_command_says_how_to_get_it(folder, oracle_weights, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "syncdesk.core.batch.ray_executor")
    assert main(["batch", str(folder), "--executor", "ray", "--weights", str(oracle_weights), *FAST]) == 1
    assert "pip install 'syncdesk[ray]'" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--ray-address", "auto"], ["--ship-files"], ["--cpus-per-worker", "2"]])
def test_ray_options_need_the_ray_executor(folder, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(folder), *option])
    assert exit_info.value.code == 2 and "go with --executor ray" in capsys.readouterr().err


def test_losing_a_node_mid_batch_still_reports_every_file_once(fresh_nodes, folder, oracle_weights):
    """The second node is removed while its actor analyses: its files are analysed again on the
    head's actor, and every file has one row. Last in the module: the cluster gets a node back."""
    [node] = fresh_nodes.worker_nodes
    options = AnalysisOptions(weights=oracle_weights, detector="whole-frame")
    removed: list[int] = []

    def on_update(update: JobUpdate) -> None:
        if update.state == DONE and not removed:
            fresh_nodes.remove_node(node)
            removed.append(update.job.id)

    try:
        with JobStore() as store, RayExecutor(options, address=fresh_nodes.address) as executor:
            batch = prepare([folder], options, store)
            BatchRunner(store, options, on_update=on_update, executor=executor).run(batch.pending())
            batch = batch.refreshed(store)
    finally:
        fresh_nodes.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    assert removed
    found = {row.path.name: row for row in rows(batch.jobs, batch.skipped, PRESETS["relaxed"])}
    assert len(found) == len(batch.jobs) == 9
    _expected({name: {"offset": row.offset, "status": row.status, "error": row.error} for name, row in found.items()})
    assert max(job.analyses for job in batch.jobs) == 2  # what ran on the lost node ran again, once
