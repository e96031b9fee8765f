"""``syncdesk monitor``: streams of known sync served on 127.0.0.1 by the tests (tests/stream_servers.py).

The live cases run in real time (a 40 s playlist takes 40 s); each subprocess has a timeout, each
server is stopped in a ``finally``. Sub-frame oracle weights and flash clips make the truth known
to a few ms (tests/oracle.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from syncdesk.cli import main
from syncdesk.core.monitor import LOST, NO_EVIDENCE, OK, OUTSIDE, Monitor, MonitorSettings, parse_source
from syncdesk.core.options import AnalysisOptions

from .face_clips import Tile, make_faces_clip
from .stream_servers import LiveHls, UdpSender, free_udp_port, make_ts_clip

STEP_AT_S, STEP_MS = 20.0, 160.0


def _command(source: str, weights: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "syncdesk", "monitor", source, "--weights", str(weights), "--detector",
            "whole-frame", *extra]


def _watch(command: list[str], timeout: float) -> tuple[int, list[tuple[float, str]], str]:
    """Run ``command``; its stdout lines with the wall time each arrived, and its stderr."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        stderr = process.stderr.read()
        return process.wait(), lines, stderr
    finally:
        killer.cancel()
        process.kill()
        process.wait()


def _updates(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _confident(update: dict) -> bool:
    return update["status"] in (OK, OUTSIDE)


def test_a_live_hls_playlist_is_followed_through_a_step(tmp_path, subframe_oracle_weights):
    """(a): a playlist growing by a 2 s segment every 2 s; the audio leads 0 ms, then 160 ms from 20 s."""
    clip = make_ts_clip(tmp_path / "step.ts", 40, audio_lead_s=lambda t: (t >= STEP_AT_S) * STEP_MS / 1000)
    live = LiveHls(clip).start()
    out = tmp_path / "live.jsonl"
    try:
        code, lines, stderr = _watch(_command(live.url, subframe_oracle_weights, "--jsonl", str(out)), timeout=90)
    finally:
        live.stop()
    assert code == 0, stderr  # the playlist's end (#EXT-X-ENDLIST) ends the monitor
    updates = _updates(out)
    first = next(u for u in updates if _confident(u))
    assert first["t_s"] + first["window_s"] / 2 <= 12.0  # the window's end: stream time of the first reading
    update_lines = [when for when, line in lines if line[:2].isdigit()]
    assert len(update_lines) == len(updates) >= 17
    # From the second update on, one every --every (2 s) on the stream's schedule: none more than 2 s behind
    # its slot on that grid, so neither a stall nor a monitor falling behind the stream passes. Not the gap
    # between two lines: FFmpeg's HLS reader looks for a new segment every half target duration (1.5 s
    # here), so a segment is picked up 0-1.6 s after it appears and two lines can come 0.3 s or 3.2 s apart
    # (as once in CI) while each keeps its slot.
    since = np.array(update_lines[1:]) - update_lines[1]
    behind = since - 2.0 * np.arange(len(since))
    assert behind.max() <= 2.0, behind
    full = [u["t_s"] for u in updates if u["window_s"] >= 8.0]  # the window grown to its 8 s: none skipped
    assert np.allclose(np.diff(full), 2.0) and full[-1] >= 40 - 8 / 2, full
    late = [u for u in updates if u["t_s"] >= STEP_AT_S + 10]
    assert len(late) >= 3 and all(_confident(u) for u in late)
    assert all(abs(u["offset_ms"] - STEP_MS) <= 25 for u in late), [u["offset_ms"] for u in late]
    early = [u for u in updates if _confident(u) and u["t_s"] + u["window_s"] / 2 <= STEP_AT_S]
    assert early and all(abs(u["offset_ms"]) <= 25 for u in early)
    assert all(0 <= u["latency_s"] < 5 for u in updates if u["latency_s"] is not None)


def test_an_mpeg_ts_stream_on_udp_is_joined_mid_stream(tmp_path, subframe_oracle_weights):
    """(b): the sender has been going for 4 s when the monitor starts listening."""
    clip = make_ts_clip(tmp_path / "udp.ts", 26, audio_lead_s=0.12)
    port = free_udp_port()
    sender = UdpSender(clip, port, 26).start()
    out = tmp_path / "udp.jsonl"
    try:
        time.sleep(4)
        code, _, stderr = _watch(_command(f"udp://127.0.0.1:{port}?localaddr=127.0.0.1", subframe_oracle_weights,
                                          "--jsonl", str(out), "--duration", "14"), timeout=60)
    finally:
        sender.stop()
    assert code == 0, stderr
    confident = [u for u in _updates(out) if _confident(u)]
    assert confident and confident[0]["t_s"] + confident[0]["window_s"] / 2 <= 12.0
    assert all(abs(u["offset_ms"] - 120) <= 25 for u in confident), [u["offset_ms"] for u in confident]
    assert confident[0]["stream_s"] > 4.0  # it joined the stream where it was, not at its start


def test_a_server_that_stops_for_5_s_is_reported_lost_and_monitored_again(tmp_path, subframe_oracle_weights):
    """(c): the playlist's server closes its socket for 5 s and listens again on the same port."""
    clip = make_ts_clip(tmp_path / "outage.ts", 24, audio_lead_s=0.08)
    live = LiveHls(clip).start()
    out = tmp_path / "outage.jsonl"
    outage = threading.Timer(8.0, live.outage, args=(5.0,))
    outage.start()
    try:
        code, lines, stderr = _watch(_command(live.url, subframe_oracle_weights, "--jsonl", str(out)), timeout=90)
    finally:
        outage.join(timeout=10)
        live.stop()
    assert code == 0 and "Traceback" not in stderr, stderr
    updates = _updates(out)
    statuses = [u["status"] for u in updates]
    assert LOST in statuses
    lost = statuses.index(LOST)
    before, after = updates[:lost], [u for u in updates[lost:] if u["status"] != LOST]
    assert any(_confident(u) for u in before)
    resumed = [u for u in after if _confident(u)]
    assert resumed and all(u["epoch"] > before[-1]["epoch"] for u in after)  # a new clock after the reconnect
    assert all(abs(u["offset_ms"] - 80) <= 25 for u in resumed)
    assert any("LOST" in line for _, line in lines)


@pytest.mark.parametrize("path", ["/garbage.m3u8", "/missing.m3u8"])
def test_garbage_or_404_is_one_line_and_exit_1(tmp_path, subframe_oracle_weights, path):
    """(d)"""
    clip = make_ts_clip(tmp_path / "any.ts", 4)
    live = LiveHls(clip).start()
    try:
        url = f"http://127.0.0.1:{live.port}{path}"
        code, _, stderr = _watch(_command(url, subframe_oracle_weights), timeout=60)
    finally:
        live.stop()
    assert code == 1
    message = stderr.strip()
    assert "\n" not in message and message.startswith("syncdesk: error: cannot open http://127.0.0.1")
    assert ("404" in message or "Not Found" in message) if "missing" in path else "Traceback" not in message


def _peak_rss_kb(command: list[str]) -> int:
    """Peak resident memory of ``syncdesk monitor ...`` run in a fresh interpreter."""
    code = ("import resource, sys\nfrom syncdesk.cli import main\nrc = main(sys.argv[1:])\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split("PEAK")[-1].split()[0])


def test_memory_stays_flat_over_a_long_looped_run(tmp_path, subframe_oracle_weights):
    """(e), scaled for CI: 20 s against 160 s of a looped file (bench/bench_monitor.py --soak runs the hour)."""
    clip = make_ts_clip(tmp_path / "loop.ts", 20, audio_lead_s=0.04)
    args = ["monitor", str(clip), "--weights", str(subframe_oracle_weights), "--detector", "whole-frame", "--loop",
            "--quiet"]
    short = _peak_rss_kb([*args, "--duration", "20"])
    long = _peak_rss_kb([*args, "--duration", "160", "--jsonl", str(tmp_path / "long.jsonl")])
    assert long <= 1.25 * short, (short, long)
    updates = _updates(tmp_path / "long.jsonl")
    assert updates[-1]["t_s"] > 150 and {u["epoch"] for u in updates} == {0}  # one clock across the loops
    assert sum(_confident(u) for u in updates) > 0.9 * len(updates)


def test_a_discontinuity_starts_a_new_window(tmp_path, subframe_oracle_weights):
    """Two programmes one after the other, the second's timestamps 1000 s on (an ad break, a splice)."""
    first = make_ts_clip(tmp_path / "a.ts", 12, audio_lead_s=0.0, seed=1)
    second = make_ts_clip(tmp_path / "b.ts", 12, audio_lead_s=0.12, seed=2, pts_offset_s=1000)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    updates = []
    monitor = Monitor(parse_source(str(joined)), AnalysisOptions(weights=subframe_oracle_weights,
                                                                   detector="whole-frame"),
                      MonitorSettings(), updates.append)
    assert monitor.run() == "ended"
    epochs = {u.epoch for u in updates}
    assert epochs == {0, 1}
    a = [u for u in updates if u.epoch == 0 and u.status == OK]
    b = [u for u in updates if u.epoch == 1 and u.status == OK]
    assert a and b and all(abs(u.offset_ms) <= 25 for u in a) and all(abs(u.offset_ms - 120) <= 25 for u in b)
    assert b[0].window_s <= 4.0  # the second programme's window started afresh
    assert b[0].t_s > a[-1].t_s and abs(b[0].stream_s - 1000) < 10  # one clock for people, the stream's own kept


def test_tolerance_alarm_runs_the_command_with_the_figures(tmp_path, subframe_oracle_weights):
    clip = make_ts_clip(tmp_path / "step.ts", 24, audio_lead_s=lambda t: (t >= 6) * STEP_MS / 1000)
    seen = tmp_path / "alarm.txt"
    script = f"import os; open({str(seen)!r}, 'a').write(os.environ['SYNCDESK_OFFSET_MS'] + ' ' + os.environ['SYNCDESK_TOLERANCE'] + '\\n')"
    code, lines, stderr = _watch(_command(str(clip), subframe_oracle_weights, "--tolerance", "ebu-r37",
                                          "--alarm-after", "4", "--jsonl", str(tmp_path / "a.jsonl"),
                                          "--on-alarm", sys.executable, "-c", script), timeout=90)
    assert code == 0, stderr
    updates = _updates(tmp_path / "a.jsonl")
    assert [u["status"] for u in updates if _confident(u)][:2] == [OK, OK]
    alarms = [u for u in updates if u["alarm"]]
    assert len(alarms) == 1 and alarms[0]["outside_s"] >= 4 and alarms[0]["status"] == OUTSIDE
    assert sum(line.startswith("ALARM") for _, line in lines) == 1
    for _ in range(50):  # the command runs beside the monitor; the CLI waits for it at the end
        if seen.exists():
            break
        time.sleep(0.1)
    offset, label = seen.read_text().split(" ", 1)
    assert abs(float(offset) - STEP_MS) <= 25 and label.startswith("EBU R37")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_exits_130_with_the_jsonl_flushed(tmp_path, subframe_oracle_weights):
    """Started as a shell starts a background job (SIGINT inherited ignored): Ctrl-C still stops it."""
    clip = make_ts_clip(tmp_path / "loop.ts", 10)
    out = tmp_path / "int.jsonl"
    process = subprocess.Popen(_command(str(clip), subframe_oracle_weights, "--loop", "--realtime", "--jsonl", str(out)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line[:2].isdigit():
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
    finally:
        process.kill()
        process.wait()
    updates = _updates(out)
    assert updates and all(set(u) >= {"t_s", "offset_ms", "confidence", "status", "latency_s"} for u in updates)
    assert not (tmp_path / ".int.jsonl.part").exists()


def test_bad_usage_and_unopenable_sources(tmp_path, subframe_oracle_weights, capsys):
    clip = make_ts_clip(tmp_path / "c.ts", 4)
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", str(clip), "--window", "1"])
    assert exit_info.value.code == 2
    assert main(["monitor", str(clip), "--window", "4", "--every", "6"]) == 2
    assert main(["monitor", str(tmp_path / "nothing.ts")]) == 1
    assert main(["monitor", "srt://127.0.0.1:9", "--weights", str(subframe_oracle_weights)]) == 1
    assert main(["monitor", "gopher://127.0.0.1/x"]) == 1
    (tmp_path / "taken.jsonl").write_text("mine\n")
    assert main(["monitor", str(clip), "--jsonl", str(tmp_path / "taken.jsonl")]) == 1
    assert (tmp_path / "taken.jsonl").read_text() == "mine\n"
    err = capsys.readouterr().err
    assert "--every (6 s) must not be longer than --window (4 s)" in err
    assert "no srt:// protocol" in err and "cannot monitor gopher://" in err and "exists" in err
    assert "Traceback" not in err


def test_faces_are_followed_and_the_speaker_carries_the_reading(tmp_path, example_avi, oracle_weights):
    """The face path: two real faces (tiles of example.avi), the left one speaking 120 ms early."""
    tiles = [Tile(1, lambda n: (60, 68)), Tile(2, lambda n: (356, 68))]
    clip = make_faces_clip(tmp_path / "two.mp4", example_avi, tiles, 0, seconds=10, audio_lead_s=0.12)
    updates = []
    monitor = Monitor(parse_source(str(clip)), AnalysisOptions(weights=oracle_weights, detector="haar"),
                      MonitorSettings(), updates.append)
    assert monitor.run() == "ended"
    confident = [u for u in updates if u.status == OK]
    assert len(confident) >= 4 and all(u.faces == 2 for u in confident)
    assert all(abs(u.offset_ms - 120) <= 20 for u in confident)
    left = {u.speaker for u in confident}
    assert len(left) == 1
    box = confident[-1].boxes[left.pop()]
    assert 60 < (box[0] + box[2]) / 2 < 284  # the speaker is the left face


def test_a_source_without_faces_says_so(tmp_path, oracle_weights):
    clip = make_ts_clip(tmp_path / "flat.ts", 6)
    updates = []
    Monitor(parse_source(str(clip)), AnalysisOptions(weights=oracle_weights, detector="haar"),
            MonitorSettings(), updates.append).run()
    assert updates and all(u.status == NO_EVIDENCE and u.offset_ms is None for u in updates)
    assert updates[0].reason == "no face on screen"


def test_live_mfcc_equals_the_files(subframe_oracle_weights):
    """The sound's features computed block by block as it arrives equal the whole clip's."""
    import torch

    from syncdesk.core.monitor.live_audio import LiveAudio
    from syncdesk.core.sync import features
    from syncdesk.core.sync.embed import AudioEmbeddings
    from syncdesk.core.sync.model import load_syncnet

    model = load_syncnet(subframe_oracle_weights, torch.device("cpu"))
    pcm = (np.random.default_rng(3).normal(0, 3000, 16000 * 4)).astype(np.int16)
    live = LiveAudio(model, torch.device("cpu"))
    with torch.inference_mode():
        for start in range(0, len(pcm), 1234):  # odd chunk sizes, as a stream delivers them
            live.add(start, pcm[start:start + 1234])
            live.update()
        mfcc = features.mfcc(pcm)
        windows = (mfcc.shape[1] - 20) // 4 + 1
        whole = AudioEmbeddings(model, mfcc, windows, torch.device("cpu")).rows(0, windows)
        assert live.ready == windows
        assert torch.allclose(live.rows(0, windows), whole, atol=1e-4)
        live.forget_before(50)
        assert torch.all(live.rows(0, 50) == 0) and torch.allclose(live.rows(50, windows), whole[50:], atol=1e-4)


def test_a_file_played_in_real_time_keeps_the_wall_clock(tmp_path, subframe_oracle_weights):
    clip = make_ts_clip(tmp_path / "rt.ts", 6)
    started = time.monotonic()
    updates = []
    Monitor(parse_source(str(clip)), AnalysisOptions(weights=subframe_oracle_weights, detector="whole-frame"),
            MonitorSettings(realtime=True), updates.append).run()
    assert time.monotonic() - started >= 5.5
    assert len(updates) >= 2


def test_live_faces_search_the_whole_picture_at_the_detectors_pace_and_near_the_known_faces_between():
    """As the file pipeline does (FaceFinder): a stream's checks every 5th picture cost a search of a
    few small regions, not of the whole picture, once a face is known."""
    from syncdesk.core.faces.detectors import Detection
    from syncdesk.core.monitor.live_faces import LiveFaces

    class Counting:
        name, needs_colour, search_every = "counting", False, 25

        def __init__(self) -> None:
            self.whole, self.near = 0, 0

        def detect(self, image):
            self.whole += 1
            return [Detection(100, 60, 140, 100)]

        def detect_near(self, image, faces):
            self.near += 1
            return [Detection(102, 61, 142, 101)]

    detector = Counting()
    faces = LiveFaces(detector, whole_frame=False)
    picture = np.full((360, 640, 3), 90, np.uint8)
    crops = [crop for index in range(100) for crop in faces.add(index, picture)]
    assert (detector.whole, detector.near) == (4, 16)  # frames 0, 25, 50, 75; the other 16 checks near
    assert {crop.track for crop in crops} == {0} and len(crops) >= 96  # one track, every picture cropped
