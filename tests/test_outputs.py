"""core/outputs.py: every output goes through a hidden .part file, flushed, then renamed into place."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from syncdesk.core import outputs
from syncdesk.core.errors import Cancelled, SyncdeskError
from syncdesk.core.outputs import atomic_output


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_through_a_hidden_part_beside_the_destination(tmp_path):
    dst = tmp_path / "out.json"
    with atomic_output(dst) as part:
        assert part.parent == tmp_path and part.name.startswith(".out.json.") and part.suffix == ".part"
        assert not dst.exists()  # nothing at the destination until the block is done
        part.write_text("new", encoding="utf-8")
    assert dst.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    kept = tmp_path / "kept.csv"
    kept.write_text("old", encoding="utf-8")
    kept.chmod(0o640)
    with atomic_output(kept) as part:
        part.write_text("new", encoding="utf-8")
    assert kept.read_text(encoding="utf-8") == "new" and _mode(kept) == 0o640

    old_umask = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "new.csv") as part:
            part.write_text("new", encoding="utf-8")
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "new.csv") == 0o640  # 0o666 less the umask


def test_the_data_is_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    with atomic_output(tmp_path / "out.bin") as part:
        part.write_bytes(b"data")
    assert events[:2] == ["fsync", "replace"]


@pytest.mark.parametrize("error", [SyncdeskError("disk full"), Cancelled(), KeyboardInterrupt()])
def test_an_error_inside_leaves_the_destination_untouched_and_no_part(tmp_path, error):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"the user's file")
    with pytest.raises(type(error)):
        with atomic_output(dst) as part:
            part.write_bytes(b"half")
            raise error
    assert dst.read_bytes() == b"the user's file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_a_failed_rename_is_reported_and_leaves_no_part(tmp_path, monkeypatch):
    def refuse(part: Path, dst: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    dst = tmp_path / "report.json"
    with pytest.raises(SyncdeskError, match="cannot write .*report.json: Permission denied"):
        with atomic_output(dst) as part:
            part.write_text("{}", encoding="utf-8")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_raises_the_callers_error(tmp_path):
    class ExportLikeError(SyncdeskError):
        pass

    with pytest.raises(ExportLikeError, match="cannot write in"):
        with atomic_output(tmp_path / "nowhere" / "out.mp4", ExportLikeError):
            pass


def test_move_into_place_replaces_a_kept_part(tmp_path):
    part, dst = tmp_path / "model.bin.part", tmp_path / "model.bin"
    part.write_bytes(b"downloaded")
    dst.write_bytes(b"older")
    outputs.move_into_place(part, dst)
    assert dst.read_bytes() == b"downloaded" and not part.exists()
