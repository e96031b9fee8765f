"""End to end on clips with real faces (tiles of example.avi) and the oracle weights.

Each tile flashes in its own seeded pattern; the sound follows one tile's pattern, early by a
known amount. So the speaking face, its offset and the other face's low confidence are known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from syncdesk.cli import main
from syncdesk.core.analysis import analyze
from syncdesk.core.errors import AnalysisError
from syncdesk.core.options import AnalysisOptions

from .face_clips import Tile, make_faces_clip
from .oracle import make_flash_clip

LEFT, RIGHT = (60, 68), (356, 68)  # top-left corners of the two 224 px tiles on a 640x360 canvas


def two_faces(tmp: Path, example: Path, speaker: int) -> Path:
    tiles = [Tile(1, lambda n: LEFT), Tile(2, lambda n: RIGHT)]
    return make_faces_clip(tmp / f"two faces, speaker {speaker}.mp4", example, tiles, speaker, seconds=10,
                           audio_lead_s=0.12 if speaker == 0 else -0.08)


@pytest.fixture(scope="module")
def left_speaks(tmp_path_factory, example_avi) -> Path:
    return two_faces(tmp_path_factory.mktemp("faces"), example_avi, speaker=0)


def haar(weights: Path, **extra) -> AnalysisOptions:
    return AnalysisOptions(weights=weights, detector="haar", **extra)


def centre_in(box: list[float], corner: tuple[int, int], side: int = 224) -> bool:
    cx, cy = (box[1] + box[3]) / 2, (box[2] + box[4]) / 2
    return corner[0] < cx < corner[0] + side and corner[1] < cy < corner[1] + side


def test_two_faces_make_two_tracks_and_the_speaker_carries_the_offset(left_speaks, oracle_weights, tmp_path):
    out = tmp_path / "two.json"
    assert main(["analyze", str(left_speaks), "--weights", str(oracle_weights), "--detector", "haar",
                 "--json", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    left, right = doc["tracks"]
    assert (left["start_frame"], left["end_frame"], right["start_frame"], right["end_frame"]) == (0, 249, 0, 249)
    assert all(centre_in(box, LEFT) for box in left["boxes"]) and all(centre_in(box, RIGHT) for box in right["boxes"])
    assert all(100 < box[3] - box[1] < 224 for box in left["boxes"])  # a face, not the whole tile or frame
    assert left["offset_frames"] == 3 and abs(left["offset_ms"] - 120) < 20
    assert right["confidence"] < 0.5 * left["confidence"]
    assert doc["active_speaker"].count(0) > 0.8 * 250 and doc["active_speaker"].count(1) == 0
    assert (doc["offset_frames"], doc["verdict_source"], doc["verdict_tracks"]) == (3, "speaking-tracks", [0])
    assert doc["engine"]["detector"] == "haar" and doc["shots"] == [[0, 249]]
    assert len(left["framewise_confidence"]) == 250 - 5


def test_swapping_the_speaker_moves_the_verdict(tmp_path, example_avi, oracle_weights):
    result = analyze(two_faces(tmp_path, example_avi, speaker=1), haar(oracle_weights))
    left, right = result.tracks
    assert result.verdict_tracks == [right.id] and result.offset_frames == right.offset_frames == -2
    assert result.active_speaker.count(right.id) > 0.8 * 250 and left.speaking_frames == 0


def test_nobody_speaking_says_so_instead_of_inventing_an_offset(tmp_path, example_avi, oracle_weights, capsys):
    tiles = [Tile(1, lambda n: LEFT), Tile(2, lambda n: RIGHT), Tile(3, lambda n: (-999, -999))]  # off screen
    clip = make_faces_clip(tmp_path / "nobody.mp4", example_avi, tiles, speaker=2, seconds=10)
    assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "haar", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "no confident speaker" in printed and "AV offset" not in printed
    result = analyze(clip, haar(oracle_weights))
    assert len(result.tracks) == 2 and set(result.active_speaker) == {None}
    assert (result.verdict_source, result.confidence, result.offset_frames) == ("no-confident-speaker", 0.0, 0)


def test_a_cut_splits_the_tracks(tmp_path, example_avi, oracle_weights):
    tiles = [Tile(1, lambda n: LEFT, frames=range(0, 125)), Tile(1, lambda n: (380, 100), side=200,
                                                                 frames=range(125, 250))]
    clip = make_faces_clip(tmp_path / "cut.mp4", example_avi, tiles, 0, seconds=10,
                           backgrounds=lambda n: 120 if n < 125 else 60)
    result = analyze(clip, haar(oracle_weights))
    assert result.shots == [[0, 124], [125, 249]]
    assert [(t.start_frame, t.end_frame) for t in result.tracks] == [(0, 124), (125, 249)]
    assert all(centre_in(box, (380, 100), 200) for box in result.tracks[1].boxes)
    whole = analyze(clip, AnalysisOptions(weights=oracle_weights, detector="whole-frame"))
    assert [(t.start_frame, t.end_frame) for t in whole.tracks] == [(0, 249)]  # whatever the cut


def test_a_face_leaving_the_frame_ends_its_track(tmp_path, example_avi, oracle_weights):
    tiles = [Tile(1, lambda n: (200 + max(0, n - 100) * 4, 68))]  # walks off to the right from frame 100
    clip = make_faces_clip(tmp_path / "leaves.mp4", example_avi, tiles, 0, seconds=10, audio_lead_s=-0.2)
    [track] = analyze(clip, haar(oracle_weights)).tracks
    assert track.start_frame == 0 and 150 < track.end_frame < 215  # out of sight by frame 210
    assert track.offset_frames == -5
    first, last = track.boxes[0], track.boxes[-1]
    assert last[1] > first[1] + 150  # the box followed the face


def test_a_face_too_small_is_ignored_with_a_message(tmp_path, example_avi, oracle_weights, capsys):
    clip = make_faces_clip(tmp_path / "small face.mp4", example_avi, [Tile(1, lambda n: LEFT, side=128, steady=True)], 0,
                           seconds=8)
    assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "haar", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "smaller than --min-face-size 100 px" in error and "Traceback" not in error
    assert len(analyze(clip, haar(oracle_weights, min_face_size=60)).tracks) == 1


def test_a_face_on_screen_too_briefly_is_ignored_with_a_message(tmp_path, example_avi, oracle_weights):
    clip = make_faces_clip(tmp_path / "brief.mp4", example_avi, [Tile(1, lambda n: LEFT, frames=range(0, 60))], 0,
                           seconds=5)
    with pytest.raises(AnalysisError, match=r"1 shorter than --min-track 100 frames \(the longest: 60 frames"):
        analyze(clip, haar(oracle_weights))
    assert len(analyze(clip, haar(oracle_weights, min_track=50)).tracks) == 1


def test_no_face_at_all_exits_1_and_suggests_whole_frame(tmp_path, oracle_weights, capsys):
    clip = make_flash_clip(tmp_path / "no face.mp4", seconds=3, size=128)
    assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--quiet"]) == 1  # default: auto
    error = capsys.readouterr().err
    assert "no face found" in error and "--detector whole-frame" in error


def test_s3fd_without_its_weights_says_how_to_get_them(tmp_path, oracle_weights, capsys):
    clip = make_flash_clip(tmp_path / "clip.mp4", seconds=1, size=64)
    assert main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "s3fd", "--quiet"]) == 1
    assert "syncdesk models download" in capsys.readouterr().err


def test_annotate_writes_a_review_video_with_the_tracks_drawn(left_speaks, oracle_weights, tmp_path):
    import av

    from syncdesk.core.palette import track_bgr

    review = tmp_path / "review of 'two'.mp4"
    assert main(["analyze", str(left_speaks), "--weights", str(oracle_weights), "--detector", "haar",
                 "--annotate", str(review), "--quiet"]) == 0
    with av.open(str(review)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert abs(float(container.duration / av.time_base) - 10.0) < 0.1
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 250
    doc = analyze(left_speaks, haar(oracle_weights))
    frame = frames[100].astype(int)
    for track, width in ((doc.tracks[0], 5), (doc.tracks[1], 2)):  # the speaker's box is drawn thicker
        _, x1, y1, x2, y2 = (round(v) for v in track.boxes[100])
        edge = frame[(y1 + y2) // 2, x1 - 1 : x1 + 6]  # across the box's left edge
        coloured = np.abs(edge - np.array(track_bgr(track.id))).max(axis=1) < 40
        assert width - 1 <= coloured.sum() <= width + 2
    assert not list(tmp_path.glob(".*.part"))


def test_annotate_never_overwrites_and_checks_before_analysing(left_speaks, oracle_weights, tmp_path, capsys):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"mine")
    assert main(["analyze", str(left_speaks), "--weights", str(oracle_weights), "--annotate", str(taken),
                 "--quiet"]) == 1
    assert taken.read_bytes() == b"mine" and "already exists" in capsys.readouterr().err
    assert main(["analyze", str(left_speaks), "--annotate", str(tmp_path / "x.gif"), "--quiet"]) == 1


def test_tracks_are_reported_as_soon_as_they_are_scored(tmp_path, example_avi, oracle_weights):
    tiles = [Tile(1, lambda n: LEFT, frames=range(0, 125)), Tile(2, lambda n: RIGHT, frames=range(100, 250))]
    clip = make_faces_clip(tmp_path / "two in turn.mp4", example_avi, tiles, 0, seconds=10)
    seen: list[tuple[float, str]] = []
    result = analyze(clip, haar(oracle_weights), progress=lambda stage, f: seen.append((f, stage)),
                     on_track=lambda track: seen.append((track.id, "track")))
    reported = [(i, entry) for i, entry in enumerate(seen) if entry[1] == "track"]
    assert [entry[0] for _, entry in reported] == [t.id for t in result.tracks] == [0, 1]
    first_done = reported[0][0]
    later = [fraction for fraction, stage in seen[first_done:] if stage == "faces"]
    assert later and min(later) < 0.9  # the pass was still going: the second track still running
