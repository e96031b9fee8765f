"""``syncdesk cache info|clear|limit`` through ``main()``."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncdesk.cli import main
from syncdesk.core import settings
from syncdesk.core.cache import AnalysisCache

from .test_cache import fill_cache


def test_info_on_an_empty_cache(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"folder   {settings.cache_dir() / 'analyses'}", "entries  0", "size     0 B", "limit    500.0 MB"]


def test_info_then_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = fill_cache(tmp_path, 2)
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


def test_limit_saves_the_cap_and_prunes_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = fill_cache(tmp_path, 3)
    assert main(["cache", "limit", "0"]) == 0
    assert "deleted 3 least recently used analyses" in capsys.readouterr().out
    assert AnalysisCache().max_bytes == 0 and cache.info().entries == 0
    assert main(["cache", "limit", "2.5"]) == 0 and AnalysisCache().max_bytes == 2_500_000


@pytest.fixture
def undeletable_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache entries that cannot be deleted (another user's files, a read-only folder)."""
    real_unlink = Path.unlink

    def stubborn(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".json" and len(self.stem) == 64:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", stubborn)


def test_clear_says_what_it_could_not_delete_without_a_traceback(tmp_path: Path, undeletable_entries: None,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cache = fill_cache(tmp_path, 2)
    assert main(["cache", "clear"]) == 1
    err = capsys.readouterr().err
    assert "2 cached analyses could not be deleted" in err and "Traceback" not in err
    assert cache.info().entries == 2


def test_an_entry_that_cannot_be_deleted_is_skipped(tmp_path: Path, undeletable_entries: None) -> None:
    cache = fill_cache(tmp_path, 3)
    assert cache.clear() == 3  # none could go, none raised
    cache.set_max_bytes(0)  # the prune skips them too
    assert cache.info().entries == 3


@pytest.mark.parametrize("argv", [["cache"], ["cache", "shrink"], ["cache", "info", "--all"], ["cache", "limit", "-1"],
                                  ["cache", "limit", "lots"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("syncdesk") and "error:" in err and "--help" in err
    assert err.count("\n") == 1  # one line: the reason, not the usage block
