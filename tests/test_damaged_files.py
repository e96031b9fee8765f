"""Damaged files (issue 20, part 5): a few bad packets are skipped as FFmpeg's tools skip them, counted and
reported; a file refused only when too much of a stream is lost; never a traceback or a hang."""

from __future__ import annotations

import json
import random
import signal
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import pytest

from syncdesk.cli import main
from syncdesk.core.errors import MediaError
from syncdesk.core.frames import FrameReader
from syncdesk.core.media import MAX_DAMAGED_SHARE, check_damage, read_audio
from syncdesk.core.results import Source, StreamDamage

from .oracle import make_flash_clip

SECONDS = 6


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A damaged file must never hang the analysis: each test gets a minute."""
    def stop(*_: object) -> None:
        raise TimeoutError("the analysis of a damaged file hung")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def clean_mp4(tmp_path_factory) -> Path:
    return make_flash_clip(tmp_path_factory.mktemp("damage") / "clean.mp4", seconds=SECONDS, audio_rate=48000)


def _packets(path: Path, kind: str) -> list[tuple[float, int, int]]:
    """(time s, byte position, size) of each packet of the first ``kind`` stream."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(float(p.pts * p.time_base), p.pos, p.size) for p in container.demux(stream) if p.size]


def _bad_packets(path: Path, kind: str) -> int:
    from syncdesk.core.media import decode_packets

    damage = StreamDamage(kind)
    with av.open(str(path)) as container:
        for _ in decode_packets(container, getattr(container.streams, kind)[0], damage):
            pass
    return damage.packets


def _write(src: Path, dst: Path, change) -> Path:
    data = bytearray(src.read_bytes())
    change(data)
    dst.write_bytes(bytes(data))
    return dst


def _one_bit_in_the_aac(src: Path, dst: Path, at_s: float) -> Path:
    """One flipped bit in the AAC packet at ``at_s``: the first bit of it whose flip the decoder refuses."""
    _, pos, size = min(_packets(src, "audio"), key=lambda p: abs(p[0] - at_s))
    for byte in range(pos, pos + size):
        for bit in range(8):
            def flip(data: bytearray, byte: int = byte, bit: int = bit) -> None:
                data[byte] ^= 1 << bit
            if _bad_packets(_write(src, dst, flip), "audio") == 1:
                return dst
    raise AssertionError("no single bit flip made the AAC decoder fail")


def _analyse(clip: Path, oracle_weights: Path, tmp_path: Path, capsys) -> tuple[int, dict, str, str]:
    out = tmp_path / f"{clip.stem}.json"
    code = main(["analyze", str(clip), "--weights", str(oracle_weights), "--detector", "whole-frame",
                 "--json", str(out), "--quiet"])
    printed = capsys.readouterr()
    doc = json.loads(out.read_text()) if code == 0 else {}
    return code, doc, printed.out, printed.err


def test_one_flipped_bit_in_the_aac_is_skipped_counted_and_reported(clean_mp4, oracle_weights, tmp_path, capsys):
    clip = _one_bit_in_the_aac(clean_mp4, tmp_path / "one bit.mp4", at_s=2.0)
    code, doc, out, _ = _analyse(clip, oracle_weights, tmp_path, capsys)
    assert code == 0
    [audio] = doc["source"]["damage"]
    assert (audio["stream"], audio["packets"]) == ("audio", 1) and audio["of_packets"] > 250
    assert abs(audio["spans_s"][0][0] - 2.0) < 0.05
    assert any(w.startswith("damaged file: 1 of ") and "audio packets did not decode (at 2.0 s" in w
               and "replaced by silence" in w for w in doc["warnings"])
    assert "note        damaged file: 1 of" in out
    clean = json.loads(json.dumps(doc))  # the verdict is the clean file's
    assert clean["offset_frames"] == 0


def test_the_skipped_audio_packet_is_silence_and_the_rest_keeps_its_time(clean_mp4, tmp_path):
    clip = _one_bit_in_the_aac(clean_mp4, tmp_path / "one bit.mp4", at_s=3.0)
    damage = StreamDamage("audio")
    damaged, clean = read_audio(clip, Fraction(0), damage=damage), read_audio(clean_mp4, Fraction(0))
    assert damage.packets == 1 and abs(len(damaged) - len(clean)) <= 16000 // 500  # no time lost or gained
    start, end = damage.spans_s[0]
    hole = damaged[round(start * 16000) + 64 : round(end * 16000) - 64]
    assert len(hole) > 100 and not hole.any()  # silence where the packet was
    # the sound after it in its place: its loudness frame by frame (not its samples: the AAC decoder's noise
    # substitution draws from a generator that the skipped packet leaves at another state)
    after = round((end + 0.1) * 16000)
    later = slice(after, after + 40 * 640)  # 40 frames of 40 ms
    level = [np.log1p(np.square(pcm[later].astype(float)).reshape(-1, 640).mean(axis=1)) for pcm in (damaged, clean)]
    assert np.abs(level[0] - level[1]).max() < 0.5


def test_a_zeroed_chunk_damages_both_streams_near_its_place(clean_mp4, oracle_weights, tmp_path, capsys):
    _, pos, _ = min(_packets(clean_mp4, "video"), key=lambda p: abs(p[0] - 3.0))

    def zero(data: bytearray) -> None:
        data[pos : pos + 1500] = bytes(1500)

    code, doc, _, _ = _analyse(_write(clean_mp4, tmp_path / "zeroed.mp4", zero), oracle_weights, tmp_path, capsys)
    assert code == 0
    damage = {d["stream"]: d for d in doc["source"]["damage"]}
    assert damage["video"]["packets"] >= 1 and all(2.5 < s[0] < 3.5 for s in damage["video"]["spans_s"])
    assert sum("damaged file" in w for w in doc["warnings"]) == len(damage)
    assert doc["warnings"][0].startswith("damaged file")  # first: the batch's note column shows the first
    assert doc["source"]["file_frames"] == SECONDS * 25 - damage["video"]["packets"]


def test_too_much_damage_is_refused_with_the_line_it_crossed(clean_mp4, oracle_weights, tmp_path, capsys):
    def zero_the_middle(data: bytearray) -> None:
        data[len(data) // 5 : len(data) * 3 // 4] = bytes(len(data) * 3 // 4 - len(data) // 5)

    clip = _write(clean_mp4, tmp_path / "ruined.mp4", zero_the_middle)
    code, _, _, err = _analyse(clip, oracle_weights, tmp_path, capsys)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert "ruined.mp4 is too damaged to analyse" in err and f"more than {MAX_DAMAGED_SHARE:.0%} of the" in err
    assert "Re-export or re-fetch the file" in err


def test_the_refusal_line_is_a_share_of_the_packets():
    damage = StreamDamage("audio", packets=25, of_packets=100, spans_s=[[1.0, 1.5]])
    check_damage(damage, "clip.mp4")  # a quarter: still analysed
    damage.packets = 26
    with pytest.raises(MediaError, match=r"26 of 100 audio packets \(0.5 s\) did not decode"):
        check_damage(damage, "clip.mp4")


def test_touching_bad_packets_merge_into_one_span_and_survive_a_save():
    damage = StreamDamage("video")
    for start in (1.0, 1.04, 1.08, 3.0):
        damage.add(start, 0.04)
    assert damage.spans_s == [[1.0, 1.12], [3.0, 3.04]] and damage.packets == 4
    source = Source("a.mp4", 1, 4.0, 25.0, 100, 48000, damage=[damage])
    from dataclasses import asdict

    assert Source.from_dict(json.loads(json.dumps(asdict(source)))) == source


def test_the_viewer_steps_over_a_damaged_stretch(clean_mp4, tmp_path):
    _, pos, _ = min(_packets(clean_mp4, "video"), key=lambda p: abs(p[0] - 2.0))

    def zero(data: bytearray) -> None:
        data[pos : pos + 1500] = bytes(1500)

    with FrameReader(_write(clean_mp4, tmp_path / "zeroed.mp4", zero)) as reader:
        frames = 1
        while reader.next_frame() is not None:
            frames += 1
        assert SECONDS * 25 - 10 < frames < SECONDS * 25
        assert reader.frame_at(2.0).image.shape == (64, 64, 3)


def _flip(data: bytearray, rng: random.Random) -> None:
    for _ in range(3):
        data[rng.randrange(len(data) // 10, len(data) - 64)] ^= 1 << rng.randrange(8)


def _zero(data: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(data) // 10, len(data) - 3000)
    data[at : at + 2000] = bytes(2000)


def _swap(data: bytearray, rng: random.Random) -> None:
    a, b = rng.randrange(len(data) // 10, len(data) // 2 - 4096), rng.randrange(len(data) // 2, len(data) - 4096)
    data[a : a + 4096], data[b : b + 4096] = data[b : b + 4096], data[a : a + 4096]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_bit_flips_zeroed_chunks_and_swapped_blocks_end_in_a_verdict_or_a_clear_reason(
        suffix, oracle_weights, tmp_path, capsys):
    clean = make_flash_clip(tmp_path / f"clean{suffix}", seconds=4, audio_rate=48000,
                            audio_codec="aac" if suffix == ".mkv" else None)
    for seed, damage in enumerate((_flip, _zero, _swap)):
        clip = _write(clean, tmp_path / f"{damage.__name__[1:]}{suffix}", lambda data: damage(data, random.Random(seed)))
        code, doc, _, err = _analyse(clip, oracle_weights, tmp_path, capsys)
        assert code in (0, 1), clip.name
        if code == 1:
            assert err.startswith("syncdesk: error: ") and "unexpected" not in err and len(err.splitlines()) <= 2
        else:
            reported = {d["stream"]: d["packets"] for d in doc["source"]["damage"]}
            assert sum("damaged file" in w for w in doc["warnings"]) == len(reported)


def test_fix_writes_a_damaged_file_with_silence_where_analyze_skipped(clean_mp4, tmp_path, capsys):
    clip = _one_bit_in_the_aac(clean_mp4, tmp_path / "one bit.mp4", at_s=2.0)
    fixed = tmp_path / "fixed.mp4"
    assert main(["fix", str(clip), "-o", str(fixed), "--offset-ms", "40", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 of " in out and "audio packets did not decode" in out and "silence in their place" in out
    assert _bad_packets(fixed, "audio") == 0  # the written sound decodes everywhere
