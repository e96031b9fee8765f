"""The malloc settings that keep long analyses flat are applied on Linux (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_importing_the_engine_caps_malloc_arenas():
    code = "import syncdesk.core.analysis, syncdesk.core.memory as m; print(m._done)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
