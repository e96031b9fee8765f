"""Shared fixtures: a private data dir for every test, oracle and random weights, main windows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from syncdesk.core.sync.synthetic import random_state_dict  # noqa: E402

from .oracle import save_oracle, save_subframe_oracle  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "example.avi"


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test away from the user's real model and cache folders."""
    data = tmp_path_factory.mktemp("syncdesk-data")
    monkeypatch.setenv("SYNCDESK_DATA_DIR", str(data))
    return data


@pytest.fixture(scope="session")
def oracle_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_oracle(tmp_path_factory.mktemp("weights") / "oracle.model")


@pytest.fixture(scope="session")
def subframe_oracle_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_subframe_oracle(tmp_path_factory.mktemp("weights") / "subframe-oracle.model")


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "random.model"
    torch.save(random_state_dict(0), path)
    return path


@pytest.fixture
def make_window(qtbot, oracle_weights: Path) -> Callable[..., object]:
    """Main windows on the oracle weights, shown at ``size``; ``styled`` applies the app's style sheet
    and icon as users see them. Each one's workers are cancelled and waited for at the end."""
    from syncdesk.core.options import AnalysisOptions  # Qt loads only for the tests that make windows
    from syncdesk.gui.app import application
    from syncdesk.gui.app_settings import AppSettings
    from syncdesk.gui.main_window import MainWindow

    made = []

    def make(detector: str = "whole-frame", size: tuple[int, int] = (1200, 760), styled: bool = False):
        if styled:
            application()
        win = MainWindow(AppSettings(), AnalysisOptions(weights=oracle_weights, detector=detector),
                         interactive=False)
        qtbot.addWidget(win)
        win.resize(*size)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.pool.cancel_all()
        win.pool.wait(20_000)


@pytest.fixture(scope="session")
def example_avi() -> Path:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} is not there (shared/ beside the checkout)")
    return EXAMPLE
