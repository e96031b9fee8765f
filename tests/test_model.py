"""SyncNet: published key names, whole-clip video tower == per-window, chunking, safe loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from syncdesk.core.errors import WeightsError
from syncdesk.core.sync.embed import AudioEmbeddings, WindowScorer
from syncdesk.core.models.device import resolve_device
from syncdesk.core.sync.model import load_syncnet
from syncdesk.core.sync.model import SyncNet
from syncdesk.core.sync.synthetic import random_state_dict


def relative_error(a, b) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


@pytest.fixture(scope="module")
def model() -> SyncNet:
    net = SyncNet()
    net.load_state_dict(random_state_dict(3))
    return net.eval()


def test_state_dict_has_the_published_key_names():
    keys = set(SyncNet().state_dict())
    for key in ("netcnnaud.0.weight", "netcnnaud.1.running_mean", "netcnnaud.18.weight", "netfcaud.3.weight",
                "netcnnlip.0.weight", "netcnnlip.19.running_var", "netfclip.1.weight", "netfclip.3.bias"):
        assert key in keys
    assert SyncNet().state_dict()["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)


def test_whole_clip_video_tower_equals_per_window(model):
    torch.manual_seed(0)
    clip = torch.rand(1, 3, 12, 224, 224) * 255
    with torch.inference_mode():
        whole = model.forward_video(clip)
        per_window = torch.cat([model.forward_video(clip[:, :, i : i + 5]) for i in range(8)])
    assert whole.shape == (8, 1024)
    assert relative_error(whole, per_window) < 1e-5


def test_windows_as_2d_stacks_give_the_3d_towers_embeddings(model, tmp_path):
    """Fast mode's windows share no frame: each window's 5 frames as 15 channels through the tower's 2-d
    form give what the 3-d tower gives each window, folded for inference or not, in float32 and bfloat16."""
    from syncdesk.core.sync.embed import video_embeddings, video_input, window_embeddings

    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(17)]  # windows 0, 6, 12
    path = tmp_path / "w.model"
    torch.save(random_state_dict(3), path)
    cpu = torch.device("cpu")
    with torch.inference_mode():
        bfloat16 = load_syncnet(path, dtype=torch.bfloat16)
        for net, tolerance in ((model, 1e-5), (load_syncnet(path), 1e-5), (bfloat16, 1e-2)):
            per_window = torch.cat([video_embeddings(net, video_input(net, frames[i:i + 5], cpu)) for i in (0, 6, 12)])
            stacked = window_embeddings(net, frames, 6, cpu)
            assert stacked.shape == (3, 1024)
            assert relative_error(stacked.float(), per_window.float()) < tolerance


def _scorer_rows(model, frames, mfcc, windows, stride=1, per_batch=4):
    with torch.inference_mode():
        audio = AudioEmbeddings(model, mfcc, windows, torch.device("cpu"), batch=7)
        scorer = WindowScorer(model, audio, vshift=3, stride=stride, windows_per_batch=per_batch)
        for frame in frames:
            scorer.add(frame)
        scorer.finish()
    return scorer


def _reference_rows(model, frames, mfcc, windows, vshift=3):
    """The published maths written out naively: per window, zero-padded audio."""
    with torch.inference_mode():
        video = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).unsqueeze(0).float()
        v = torch.cat([model.forward_video(video[:, :, i : i + 5]) for i in range(windows)])
        cc = torch.from_numpy(mfcc)
        a = torch.cat([model.forward_audio(cc[None, None, :, 4 * i : 4 * i + 20]) for i in range(windows)])
        padded = torch.nn.functional.pad(a, (0, 0, vshift, vshift))
        rows = [torch.nn.functional.pairwise_distance(v[[i]].repeat(2 * vshift + 1, 1), padded[i : i + 2 * vshift + 1])
                for i in range(windows)]
    return torch.stack(rows).numpy()


def test_chunked_scoring_equals_the_published_maths(model):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(17)]
    mfcc = rng.normal(0, 5, (13, 4 * 17 + 20)).astype(np.float32)
    windows = 17 - 5
    reference = _reference_rows(model, frames, mfcc, windows)
    for per_batch in (1, 4, 16):  # chunk boundaries change nothing
        scorer = _scorer_rows(model, frames, mfcc, audio_windows := windows, per_batch=per_batch)
        assert scorer.windows == audio_windows
        assert scorer.distances().shape == reference.shape
        assert relative_error(scorer.distances(), reference) < 1e-5


def test_strided_scoring_is_the_subset_of_windows(model):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(18)]
    mfcc = rng.normal(0, 5, (13, 4 * 18 + 20)).astype(np.float32)
    full = _scorer_rows(model, frames, mfcc, 13)
    for stride, per_batch in ((5, 2), (7, 1), (3, 2)):  # strides beyond the 5-frame window skip frames
        strided = _scorer_rows(model, frames, mfcc, 13, stride=stride, per_batch=per_batch)
        expected = list(range(0, 13, stride))
        assert strided.window_index.tolist() == expected
        assert relative_error(strided.distances(), full.distances()[expected]) < 1e-5


def test_window_count_is_limited_by_the_shorter_stream(model):
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(15)]
    mfcc = rng.normal(0, 5, (13, 4 * 12 + 20)).astype(np.float32)
    scorer = _scorer_rows(model, frames, mfcc, windows=7)  # audio of 12 frames -> 7 windows
    assert scorer.windows == 7
    assert scorer.window_index.tolist() == list(range(7))


def test_loading_published_key_names(tmp_path):
    path = tmp_path / "w.model"
    torch.save(random_state_dict(5), path)
    net = load_syncnet(path)
    assert not net.training
    torch.testing.assert_close(net.state_dict()["netfclip.3.bias"], random_state_dict(5)["netfclip.3.bias"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda p: p.write_text("not weights"), "is not a PyTorch weights file"),
        # text the unpickler reads as opcodes: it fails with KeyError, IndexError or struct.error, not a clean error
        (lambda p: p.write_text("jO@69'cK-7#r4bTR8ub)S"), "is not a PyTorch weights file"),
        (lambda p: p.write_text("baKl"), "is not a PyTorch weights file"),
        (lambda p: p.write_text("M+"), "is not a PyTorch weights file"),
        (lambda p: torch.save({"conv.weight": torch.zeros(3)}, p), "not a SyncNet state_dict"),
        (lambda p: torch.save({**random_state_dict(0), "netfclip.3.bias": torch.zeros(7)}, p), "shape"),
        (lambda p: torch.save(object.__new__(torch.nn.Linear), p), "cannot be loaded safely"),
    ],
    ids=["text", "text-keyerror", "text-indexerror", "text-structerror", "other-network", "wrong-shape", "pickled-object"],
)
def test_bad_weights_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.model"
    content(path)
    with pytest.raises(WeightsError, match=message):
        load_syncnet(path)


def test_auto_device_is_cpu_without_a_gpu():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected


def test_tracks_sharing_the_clip_s_audio_embeddings_score_as_alone_and_run_the_audio_tower_once(model, monkeypatch):
    """Two faces on screen together: the sound's embeddings are computed once, in chunks of the clip's
    windows, and each track still sees zero vectors beyond its own end, as the published maths does."""
    from syncdesk.core.sync.embed import ClipAudioEmbeddings

    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(40)]
    mfcc = rng.normal(0, 5, (13, 4 * 40)).astype(np.float32)
    monkeypatch.setattr(ClipAudioEmbeddings, "CHUNK", 8)  # several chunks in a short clip
    shared = ClipAudioEmbeddings(model, mfcc, 40 - 5, torch.device("cpu"))
    towered = []
    forward_audio = model.forward_audio
    monkeypatch.setattr(model, "forward_audio", lambda x: towered.append(len(x)) or forward_audio(x))
    for start, end in ((0, 39), (6, 30)):  # the second track starts later and ends earlier
        span = mfcc[:, 4 * start : 4 * (end + 1)]
        windows = end + 1 - start - 5
        with torch.inference_mode():
            alone = AudioEmbeddings(model, span, windows, torch.device("cpu"), batch=7)
            together = AudioEmbeddings(model, span, windows, torch.device("cpu"), shared=shared, offset=start)
            rows = [WindowScorer(model, audio, vshift=3, windows_per_batch=4) for audio in (alone, together)]
            for scorer in rows:
                for frame in frames[start : end + 1]:
                    scorer.add(frame)
                scorer.finish()
        assert relative_error(rows[1].distances(), rows[0].distances()) < 1e-5
    shared_windows = sum(towered) - (35 + 20)  # the tracks alone: 35 and 20 windows
    assert shared_windows == 35  # every clip window once, for both tracks


class _Wide:
    """A wide-rows receiver that keeps what it is given."""

    def __init__(self, reach: int) -> None:
        self.reach, self.windows, self.rows = reach, None, {}

    def add(self, window_index, rows) -> None:
        assert self.windows is None or window_index.max() < self.windows
        self.rows.update(zip(window_index.tolist(), rows))

    def end(self, windows: int) -> None:
        self.windows = windows


@pytest.mark.parametrize("stride", [1, 5])
def test_a_track_whose_end_is_learnt_late_scores_as_one_cut_to_its_span(model, stride):
    """The single pass gives a track's scorer the clip's sound to its end: its distance rows, and the
    wide search's rows, must be those of a scorer given the track's own span (zero audio past its end)."""
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(60)]
    mfcc = rng.normal(0, 5, (13, 4 * 60)).astype(np.float32)
    start, end = 4, 41  # the track; the clip's sound goes on to frame 59
    results = []
    for windows in (end + 1 - start - 5, 60 - start - 5):  # its own span, then the clip's to its end
        wide = _Wide(reach=8)
        with torch.inference_mode():
            audio = AudioEmbeddings(model, mfcc[:, 4 * start:], windows, torch.device("cpu"), batch=7)
            scorer = WindowScorer(model, audio, vshift=3, stride=stride, windows_per_batch=3, wide=wide)
            for frame in frames[start : end + 1]:
                scorer.add(frame)
            scorer.finish()
        results.append((scorer, wide))
    (own, own_wide), (late, late_wide) = results
    assert late.windows == own.windows == end + 1 - start - 5
    np.testing.assert_array_equal(late.window_index, own.window_index)
    assert relative_error(late.distances(), own.distances()) < 1e-5
    assert late_wide.windows == own_wide.windows == own.windows and sorted(late_wide.rows) == sorted(own_wide.rows)
    for index, row in own_wide.rows.items():
        np.testing.assert_allclose(late_wide.rows[index], row, rtol=1e-4, equal_nan=True)
