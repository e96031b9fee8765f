"""Shared fixtures: a private data dir for every test, oracle and random weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from syncdesk.core.sync.synthetic import random_state_dict  # noqa: E402

from .oracle import save_oracle  # noqa: E402

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
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "random.model"
    torch.save(random_state_dict(0), path)
    return path


@pytest.fixture(scope="session")
def example_avi() -> Path:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} is not there (shared/ beside the checkout)")
    return EXAMPLE
