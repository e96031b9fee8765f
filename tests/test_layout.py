"""The layers: the engine never imports the app, the CLI or Qt; the app never imports the CLI (import-linter,
napari-style), and running an analysis loads no Qt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import syncdesk

ROOT = Path(syncdesk.__file__).parents[1]
CONTRACTS = ROOT / ".importlinter"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's check of ``.importlinter`` over the ``syncdesk`` package found in ``root``."""
    linter = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(linter), "--config", str(CONTRACTS), "--no-cache"], cwd=root, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("core/shots.py", "from ..gui import player", "The engine (syncdesk.core) never imports"),  # relative
    ("core/faces/crop.py", "import PySide6.QtCore", "The engine (syncdesk.core) never imports"),
    ("gui/viewer.py", "from ..cli import progress", "The app (syncdesk.gui) never imports the command line"),
])
def test_the_contracts_catch_a_forbidden_import(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "syncdesk", tmp_path / "syncdesk", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "syncdesk" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout


def test_running_an_analysis_import_loads_no_qt():
    code = ("import sys, syncdesk.core.analysis, syncdesk.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken6'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_main_py_runs_the_command_line():
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("syncdesk ")
