"""The engine is a library: no Qt anywhere under syncdesk.core (napari-style split)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import syncdesk

CORE = Path(syncdesk.__file__).parent / "core"
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy", "syncdesk.gui")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_qt_import_in_core_sources():
    offenders = {
        str(path.relative_to(CORE)): sorted(name for name in imported_modules(path) if name.startswith(QT_MODULES))
        for path in CORE.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_running_an_analysis_import_loads_no_qt():
    code = ("import sys, syncdesk.core.analysis, syncdesk.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken6'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_main_py_runs_the_command_line():
    root = CORE.parents[1]
    result = subprocess.run([sys.executable, str(root / "main.py"), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("syncdesk ")
