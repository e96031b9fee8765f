"""The window's Qt-free state: events fire on real changes only, boxes are found by time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from syncdesk.core.frames import VideoFrame
from syncdesk.core.results import Track
from syncdesk.gui.session import Event, FaceBox, Session


def track(track_id: int, start: int, count: int) -> Track:
    boxes = [[start + i, 10.0 * track_id, 20.0, 10.0 * track_id + 30 + i, 60.0] for i in range(count)]
    return Track(id=track_id, start_frame=start, end_frame=start + count - 1, boxes=boxes, offset_frames=0,
                 offset_ms=0.0, min_dist=1.0, confidence=5.0, framewise_confidence=[5.0] * count)


def recorder(session: Session) -> list[tuple]:
    seen: list[tuple] = []
    for name in ("file", "frame", "shift", "selected", "analysis", "track", "boxes"):
        getattr(session.events, name).connect(lambda *args, name=name: seen.append((name, *args)))
    return seen


def test_the_session_imports_no_qt():
    code = "import sys, syncdesk.gui.session; print(any(m.startswith('PySide6') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_events_fire_only_on_a_real_change():
    session = Session()
    seen = recorder(session)
    session.set_shift(0.0)
    session.select(None)
    session.set_analysis(None)
    assert seen == []
    session.set_shift(40.0)
    session.set_shift(40.0)
    session.select(2)
    session.select(2)
    assert seen == [("shift", 40.0), ("selected", 2), ("boxes",)]
    image = np.zeros((4, 4, 3), np.uint8)
    frame = VideoFrame(1.0, image)
    seen.clear()
    session.show_frame(frame)
    session.show_frame(frame)  # the playhead echoing the player: no second event
    assert seen == [("frame", frame)] and session.time_s == 1.0


def test_a_new_file_drops_what_was_known_about_the_last():
    session = Session()
    session.add_track(track(0, 0, 5))
    session.select(0)
    session.show_frame(VideoFrame(0.0, np.zeros((2, 2, 3), np.uint8)))
    seen = recorder(session)
    session.set_file(Path("b.mp4"), None)
    assert [event[0] for event in seen] == ["analysis", "boxes", "selected", "boxes", "file"]
    assert session.frame is None and session.selected is None and session.boxes_at(0.0) == []


def test_boxes_at_finds_each_track_and_marks_speaker_and_selection():
    session = Session()
    first, second = track(0, 0, 50), track(1, 25, 50)
    analysis = SimpleNamespace(tracks=[first, second], active_speaker=[None] * 25 + [1] * 75)
    session.set_analysis(analysis)
    session.select(0)
    assert session.boxes_at(0.4) == [FaceBox(0, (0.0, 20.0, 40.0, 60.0), session.boxes_at(0.4)[0].colour, False, True)]
    both = session.boxes_at(1.2)  # analysis frame 30: both tracks
    assert [(box.track_id, box.speaking, box.selected) for box in both] == [(0, False, True), (1, True, False)]
    assert both[1].box == (10.0, 20.0, 45.0, 60.0)
    assert session.boxes_at(3.0) == [] and session.track_start_s(1) == 1.0


def test_a_track_scored_early_is_announced_and_has_boxes():
    session = Session()
    seen = recorder(session)
    early = track(3, 10, 5)
    session.add_track(early)
    assert seen == [("track", early), ("boxes",)]
    assert [box.track_id for box in session.boxes_at(12 / 25)] == [3]


def test_an_event_calls_its_callbacks_in_order():
    event, calls = Event(), []
    event.connect(lambda value: calls.append(("a", value)))
    event.connect(lambda value: calls.append(("b", value)))
    event.emit(1)
    event.emit(2)
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
