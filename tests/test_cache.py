"""The analysis cache: keys from sampled content + settings + weights, round trip, damage, speed."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from syncdesk.core import settings
from syncdesk.core.cache import DEFAULT_MAX_BYTES, SAMPLE_BYTES, AnalysisCache, CacheInfo
from syncdesk.core.errors import SyncdeskError
from syncdesk.core.options import AnalysisOptions
from syncdesk.core.results import Analysis, Engine, Source, Track

MIB = 1024 * 1024


def _analysis(path: Path) -> Analysis:
    track = Track(id=0, start_frame=0, end_frame=9, boxes=[[0, 1.0, 2.0, 30.5, 40.25]], offset_frames=3,
                  offset_ms=118.5, min_dist=5.25, confidence=9.75, framewise_confidence=[1.5, 2.25, 0.0],
                  windows=5, windows_scored=5, speaking_frames=10, mean_dists=[9.0, 5.25, 8.0])
    return Analysis(
        source=Source(path=str(path), size=path.stat().st_size, duration_s=0.4, fps=25.0, frames=10,
                      audio_rate=16000),
        engine=Engine(version="test", device="cpu", detector="whole-frame",
                      syncnet={"path": "w.model", "sha256": "ab" * 32}),
        offset_frames=3, offset_ms=118.5, min_dist=5.25, confidence=9.75, tracks=[track],
        shots=[[0, 9]], active_speaker=[0] * 10, timings={"total": 0.5}, warnings=["a warning"],
        verdict_source="speaking-tracks", verdict_tracks=[0])


def fill_cache(tmp_path: Path, count: int, cache: AnalysisCache | None = None) -> AnalysisCache:
    """``count`` entries for made-up clips in ``cache`` (default: the data dir's)."""
    cache = cache if cache is not None else AnalysisCache()
    weights = tmp_path / "w.model"
    weights.write_bytes(b"weights")
    for number in range(count):
        clip = tmp_path / f"clip{number}.mp4"
        clip.write_bytes(f"clip {number}".encode())
        cache.put(clip, AnalysisOptions(weights=weights), _analysis(clip))
    return cache


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def weights_file(tmp_path: Path) -> Path:
    """Any file stands for the weights here: the cache only hashes it."""
    return _write(tmp_path / "w.model", b"weights-one")


@pytest.fixture
def options(weights_file: Path) -> AnalysisOptions:
    return AnalysisOptions(weights=weights_file)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return _write(tmp_path / "clip.mp4", random.Random(1).randbytes(8 * MIB))


def test_default_root_is_under_the_data_dir_cache(_private_data_dir: Path) -> None:
    assert AnalysisCache().root == settings.cache_dir() / "analyses"
    assert AnalysisCache().root.is_relative_to(_private_data_dir)


def test_key_follows_content_not_path(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    key = cache.key(video, options)
    assert key == cache.key(video, options)
    elsewhere = tmp_path / "other" / "renamed.mov"
    elsewhere.parent.mkdir()
    shutil.copy(video, elsewhere)  # new path, new mtime, same bytes
    assert cache.key(elsewhere, options) == key

    data = bytearray(video.read_bytes())
    for where in (0, len(data) // 2, len(data) - 1):  # same size, one byte changed in each sample
        changed = bytearray(data)
        changed[where] ^= 0xFF
        other = _write(tmp_path / f"changed{where}.mp4", bytes(changed))
        assert cache.key(other, options) != key, where
    longer = _write(tmp_path / "longer.mp4", bytes(data) + b"\0")
    assert cache.key(longer, options) != key


def test_key_samples_large_files_but_hashes_small_ones_whole(tmp_path: Path, video: Path,
                                                            options: AnalysisOptions) -> None:
    """The documented trade-off: bytes between the sampled MiBs of a large file are not read."""
    cache = AnalysisCache(tmp_path / "cache")
    data = bytearray(video.read_bytes())
    data[SAMPLE_BYTES + 10] ^= 0xFF  # inside the second MiB: not sampled in an 8 MiB file
    assert cache.key(_write(tmp_path / "unsampled.mp4", bytes(data)), options) == cache.key(video, options)

    small = random.Random(2).randbytes(3 * MIB)
    changed = bytearray(small)
    changed[SAMPLE_BYTES + 10] ^= 0xFF
    assert (cache.key(_write(tmp_path / "a.mp4", small), options)
            != cache.key(_write(tmp_path / "b.mp4", bytes(changed)), options))


@pytest.mark.parametrize("change", [
    {"detector": "whole-frame"}, {"vshift": 14}, {"min_track": 101}, {"min_face_size": 99}, {"exact": True},
    {"fast_stride": 3}, {"save_dists": True},
])
def test_key_changes_with_each_fingerprint_field(tmp_path: Path, video: Path, options: AnalysisOptions,
                                                 change: dict[str, object]) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    assert cache.key(video, dataclasses.replace(options, **change)) != cache.key(video, options)


def test_key_ignores_the_device(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    assert cache.key(video, dataclasses.replace(options, device="cpu")) == cache.key(video, options)


def test_key_changes_with_the_weights(tmp_path: Path, video: Path, options: AnalysisOptions,
                                      weights_file: Path) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    key = cache.key(video, options)
    same = _write(tmp_path / "copy.model", weights_file.read_bytes())
    assert cache.key(video, AnalysisOptions(weights=same)) == key  # identity is the content
    other = _write(tmp_path / "other.model", b"weights-two")
    assert cache.key(video, AnalysisOptions(weights=other)) != key
    weights_file.write_bytes(b"weights-one, retrained")  # replaced in place: not the memoised hash
    assert cache.key(video, options) != key


def test_key_uses_the_managers_copy_without_explicit_weights(tmp_path: Path, video: Path,
                                                             weights_file: Path) -> None:
    from syncdesk.core.models.weights import model_path

    cache = AnalysisCache(tmp_path / "cache")
    assert cache.get(video, AnalysisOptions()) is None  # no weights anywhere: a miss, no error
    model_path("syncnet").parent.mkdir(parents=True)
    shutil.copy(weights_file, model_path("syncnet"))
    assert cache.key(video, AnalysisOptions()) == cache.key(video, AnalysisOptions(weights=weights_file))


def test_round_trip(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    assert cache.get(video, options) is None
    analysis = _analysis(video)
    entry = cache.put(video, options, analysis)
    assert entry == cache.root / f"{cache.key(video, options)}.json" and entry.is_file()
    assert cache.get(video, options) == analysis
    assert cache.get(video, dataclasses.replace(options, vshift=10)) is None
    assert [p.name for p in cache.root.iterdir()] == [entry.name]  # no temporary file left


def test_a_copy_gets_the_entry_with_its_own_path(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    cache.put(video, options, _analysis(video))
    copy = tmp_path / "copy.mp4"
    shutil.copy(video, copy)
    found = cache.get(copy, options)
    assert found is not None and found.source.path == str(copy)
    assert found.tracks == _analysis(video).tracks


@pytest.mark.parametrize("damage", [
    b"{not json", b'{"schema": "syncdesk.analysis/0"}', b'{"schema": "syncdesk.analysis/1", "source": {}}', b"",
])
def test_damaged_entry_is_a_miss_and_is_removed(tmp_path: Path, video: Path, options: AnalysisOptions,
                                                damage: bytes) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    entry = cache.put(video, options, _analysis(video))
    entry.write_bytes(damage)
    assert cache.get(video, options) is None
    assert not entry.exists()
    cache.put(video, options, _analysis(video))  # and it can be written again
    assert cache.get(video, options) == _analysis(video)


def test_missing_weights_or_file_is_a_miss(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    cache.put(video, options, _analysis(video))
    assert cache.get(video, AnalysisOptions(weights=tmp_path / "gone.model")) is None
    assert cache.get(tmp_path / "no-such.mp4", options) is None


def test_clear_removes_entries_only(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache")
    cache.put(video, options, _analysis(video))
    cache.put(video, dataclasses.replace(options, exact=True), _analysis(video))
    stray = _write(cache.root / "notes.json", b"{}")  # not an entry name: not ours to delete
    assert len(list(cache.root.glob("*.json"))) == 3
    cache.clear()
    assert list(cache.root.iterdir()) == [stray]
    assert cache.get(video, options) is None
    AnalysisCache(tmp_path / "never-made").clear()


def test_large_file_keys_fast(tmp_path: Path, options: AnalysisOptions) -> None:
    big = tmp_path / "big.mov"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024 ** 3)  # sparse: 2 GB on paper, nothing on disk
    cache = AnalysisCache(tmp_path / "cache")
    cache.key(big, options)  # the weights hash is memoised after this
    started = time.perf_counter()
    key = cache.key(big, options)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"keying a 2 GB file took {elapsed:.3f} s"
    with open(big, "r+b") as fh:  # and its middle still counts
        fh.seek(1024 ** 3)
        fh.write(b"x")
    assert cache.key(big, options) != key
    os.unlink(big)


def test_auto_detector_entries_change_when_s3fd_arrives(tmp_path, random_weights, monkeypatch):
    from syncdesk.core.models import weights

    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"x" * 5000)
    cache = AnalysisCache(tmp_path / "cache")
    options = AnalysisOptions(weights=random_weights, detector="auto")
    before = cache.key(clip, options)
    assert before == cache.key(clip, AnalysisOptions(weights=random_weights, detector="haar"))
    s3fd = weights.model_path("s3fd")
    s3fd.parent.mkdir(parents=True, exist_ok=True)
    s3fd.write_bytes(b"weights")
    monkeypatch.setitem(weights.MODELS, "s3fd",
                        dataclasses.replace(weights.MODELS["s3fd"], sha256=weights.sha256_file(s3fd)))
    assert cache.key(clip, options) != before  # auto now means s3fd
    assert cache.key(clip, options) == cache.key(clip, AnalysisOptions(weights=random_weights, detector="s3fd"))


# --------------------------------------------------------------------------- size cap


def _clips(tmp_path: Path, count: int) -> list[Path]:
    return [_write(tmp_path / f"clip{i}.mp4", f"clip number {i}".encode()) for i in range(count)]


def _age(entry: Path, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(entry, (when, when))


def test_the_least_recently_used_entries_go_first(tmp_path: Path, options: AnalysisOptions) -> None:
    clips = _clips(tmp_path, 4)
    cache = AnalysisCache(tmp_path / "cache", max_bytes=10 ** 9)
    entries = [cache.put(clip, options, _analysis(clip)) for clip in clips]
    for age, entry in zip((400, 300, 200, 100), entries, strict=True):
        _age(entry, age)  # put in the order 0, 1, 2, 3
    assert cache.get(clips[0], options) is not None  # a hit makes clip 0 the most recently used
    room_for_two = sum(e.stat().st_size for e in entries[:2]) + 10
    assert AnalysisCache(cache.root, max_bytes=room_for_two).prune() == 2
    assert [e.exists() for e in entries] == [True, False, False, True]  # 1 and 2 were the least recently used


def test_the_cap_holds_after_each_put(tmp_path: Path, options: AnalysisOptions) -> None:
    clips = _clips(tmp_path, 6)
    size = len(json.dumps(_analysis(clips[0]).to_dict(), ensure_ascii=False)) + 1
    cache = AnalysisCache(tmp_path / "cache", max_bytes=3 * size + size // 2)
    for number, clip in enumerate(clips):
        entry = cache.put(clip, options, _analysis(clip))
        _age(entry, 100 - number)  # distinct times even on a coarse clock
        info = cache.info()
        assert info.size <= cache.max_bytes and info.entries == min(number + 1, 3)
    assert [cache.get(clip, options) is not None for clip in clips] == [False] * 3 + [True] * 3


def test_an_entry_larger_than_the_cap_is_not_kept(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    cache = AnalysisCache(tmp_path / "cache", max_bytes=0)
    cache.put(video, options, _analysis(video))
    assert cache.info().entries == 0 and cache.get(video, options) is None


def test_the_cap_is_saved_for_every_cache_on_the_folder(tmp_path: Path, options: AnalysisOptions) -> None:
    root = tmp_path / "cache"
    assert AnalysisCache(root).max_bytes == DEFAULT_MAX_BYTES == 500 * 1000 * 1000
    clips = _clips(tmp_path, 3)
    cache = AnalysisCache(root)
    for number, clip in enumerate(clips):
        _age(cache.put(clip, options, _analysis(clip)), 100 - number)
    cache.set_max_bytes(1)  # prunes at once
    assert AnalysisCache(root).max_bytes == 1 and cache.info().entries == 0
    cache.set_max_bytes(10 ** 6)
    cache.put(clips[0], options, _analysis(clips[0]))
    cache.clear()  # entries only: the cap stays
    assert AnalysisCache(root).max_bytes == 10 ** 6 and cache.info().entries == 0
    with pytest.raises(SyncdeskError, match="cannot be negative"):
        cache.set_max_bytes(-1)
    (root / "limit.json").write_text("{broken", encoding="utf-8")
    assert AnalysisCache(root).max_bytes == DEFAULT_MAX_BYTES


def test_info_counts_entries_only(tmp_path: Path, video: Path, options: AnalysisOptions) -> None:
    assert AnalysisCache(tmp_path / "cache", max_bytes=1234).info() == CacheInfo(tmp_path / "cache", 0, 0, 1234)
    cache = AnalysisCache(tmp_path / "cache", max_bytes=10 ** 6)
    entry = cache.put(video, options, _analysis(video))
    _write(cache.root / "notes.json", b"{}")
    _write(cache.root / f".{entry.name}.abcd1234.part", b"half")
    assert cache.info() == CacheInfo(root=cache.root, entries=1, size=entry.stat().st_size, max_bytes=10 ** 6)


def test_one_analysis_through_the_cache_hashes_the_weights_once(tmp_path, oracle_weights, monkeypatch):
    """The document, the stored entry's key and the model loaded all name the weights by one hash,
    computed once in a process; weights replaced in place are hashed again."""
    from syncdesk.core.analysis import analyze_cached
    from syncdesk.core.models import weights

    from .oracle import make_flash_clip

    hashed: list[Path] = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda path, *a, **k: hashed.append(Path(path)) or real(path, *a, **k))
    clip = make_flash_clip(tmp_path / "clip.avi", seconds=1.0)
    own = _write(tmp_path / "own.model", oracle_weights.read_bytes())  # unhashed in this process yet
    options = AnalysisOptions(weights=own, detector="whole-frame")
    analysis, _ = analyze_cached(clip, options, AnalysisCache(tmp_path / "cache"), reuse=False)
    assert hashed == [own.resolve()] and analysis.engine.syncnet["sha256"] == real(own)
    assert AnalysisCache(tmp_path / "cache").get(clip, options) is not None  # stored under that hash
    time.sleep(0.01)
    own.write_bytes(own.read_bytes())  # replaced in place (new mtime): hashed again
    analyze_cached(clip, options, AnalysisCache(tmp_path / "cache"), reuse=True)
    assert hashed == [own.resolve()] * 2
