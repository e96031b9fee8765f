"""``syncdesk cache info|clear`` through ``main()``."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncdesk.cli import main
from syncdesk.core import settings
from syncdesk.core.cache import AnalysisCache
from syncdesk.core.options import AnalysisOptions

from .test_cache import _analysis


def _fill(tmp_path: Path, count: int) -> AnalysisCache:
    cache = AnalysisCache()
    weights = tmp_path / "w.model"
    weights.write_bytes(b"weights")
    for number in range(count):
        clip = tmp_path / f"clip{number}.mp4"
        clip.write_bytes(f"clip {number}".encode())
        cache.put(clip, AnalysisOptions(weights=weights), _analysis(clip))
    return cache


def test_info_on_an_empty_cache(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"folder   {settings.cache_dir() / 'analyses'}", "entries  0", "size     0 B", "limit    500.0 MB"]


def test_info_then_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = _fill(tmp_path, 2)
    cache.set_max_bytes(2_000_000)
    stray = cache.root / "notes.txt"
    stray.write_text("mine", encoding="utf-8")
    size = cache.info().size
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "entries  2\n" in out and "limit    2.0 MB\n" in out and size > 0

    assert main(["cache", "clear"]) == 0
    assert "deleted 2 cached analyses" in capsys.readouterr().out
    assert cache.info().entries == 0 and stray.read_text(encoding="utf-8") == "mine"
    assert AnalysisCache().max_bytes == 2_000_000  # clear keeps the limit
    assert main(["cache", "clear"]) == 0  # nothing left to clear is not an error
    assert "deleted 0 cached analyses" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["cache"], ["cache", "shrink"], ["cache", "info", "--all"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: syncdesk" in capsys.readouterr().err
