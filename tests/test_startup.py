"""Start-up cost of the command line: what it imports, and the collector work it skips."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from syncdesk.cli import main


def modules_after(code: str) -> set[str]:
    """The modules loaded once ``code`` has run in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
                            capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_building_the_parser_loads_no_engine():
    loaded = modules_after("from syncdesk.cli import build_parser; build_parser()")
    heavy = {"torch", "cv2", "scipy", "tqdm", "syncdesk.core.analysis", "syncdesk.core.export",
             "syncdesk.core.batch.report", "syncdesk.core.batch.session"}
    assert loaded & heavy == set()


def test_the_analysis_engine_loads_no_scipy():
    """The MFCC's DCT is a matrix product: scipy.fftpack (python_speech_features') costs 80 ms."""
    loaded = modules_after("import syncdesk.core.analysis")
    assert {name.split(".")[0] for name in loaded} & {"scipy", "python_speech_features"} == set()


def test_main_with_arguments_leaves_the_collector_alone(capsys):
    before = gc.isenabled(), gc.get_freeze_count()
    assert main(["models", "path"]) == 0
    assert (gc.isenabled(), gc.get_freeze_count()) == before


def test_the_program_imports_the_engine_with_the_collector_paused_then_frozen(tmp_path):
    """Run as the program, ``analyze`` imports torch with the collector paused (no full collection
    over its objects) and freezes what it loaded; the collector is on again for the run, and the
    program ends the ordinary way, with the command's exit code."""
    code = ("import atexit, gc, sys; from syncdesk.cli import main\n"
            f"sys.argv = ['syncdesk', 'analyze', {str(tmp_path / 'missing.avi')!r}, '--detector', 'whole-frame']\n"
            "atexit.register(lambda: print('torch' in sys.modules, gc.get_stats()[2]['collections'], "
            "gc.isenabled(), gc.get_freeze_count() > 100_000, end=''))\n"
            "code = main()\n"
            "print('returned', code)\n"
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout.split() == ["returned", "1", "True", "0", "True", "True"]
    assert "missing.avi" in result.stderr


def test_the_program_waits_for_a_thread_still_running(tmp_path):
    """The program ends the interpreter's ordinary way, which waits for a non-daemon thread left
    running (the thread outlives the command: torch's import takes well under its 3 s)."""
    code = ("import sys, threading, time; from syncdesk.cli import main\n"
            f"sys.argv = ['syncdesk', 'analyze', {str(tmp_path / 'missing.avi')!r}]\n"
            "threading.Thread(target=lambda: (time.sleep(3), print('thread finished'))).start()\n"
            "sys.exit(main())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout.strip() == "thread finished"


def test_the_program_ends_cleanly_with_its_output_closed(tmp_path, oracle_weights):
    """Started with stdout closed (``>&-``, a windowed launcher) Python has no sys.stdout at all:
    the summary goes nowhere and the exit is still 0, with no traceback."""
    from .oracle import make_flash_clip

    clip = make_flash_clip(tmp_path / "clip.avi", audio_lead_s=0.0)
    args = [sys.executable, "-m", "syncdesk", "analyze", str(clip), "--detector", "whole-frame",
            "--weights", str(oracle_weights), "--quiet", "--json", str(tmp_path / "out.json")]
    launcher = f"import os, sys; os.close(1); os.execv(sys.executable, {args!r})"
    result = subprocess.run([sys.executable, "-c", launcher], stderr=subprocess.PIPE, text=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["offset_frames"] == 0
