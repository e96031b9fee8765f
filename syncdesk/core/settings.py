"""Where syncdesk keeps its files: models, cache and queue store.

``SYNCDESK_DATA_DIR``, when set, replaces the platform's user data directory so that tests and
scripts never touch a user's real one (like ``TORCH_HOME`` for torch.hub).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "syncdesk"
DATA_DIR_ENV = "SYNCDESK_DATA_DIR"


def data_dir() -> Path:
    """The root for everything syncdesk stores (not created here)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    return data_dir() / "models"


def cache_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser() / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
