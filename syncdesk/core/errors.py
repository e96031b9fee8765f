"""Exceptions the engine raises; each message is meant to be shown to a user as is."""

from __future__ import annotations


class SyncdeskError(Exception):
    """Base class: a problem the user can act on (the CLI maps it to exit code 1)."""


class MediaError(SyncdeskError):
    """The file cannot be read as a video with sound (missing, corrupt, no stream...)."""


class WeightsError(SyncdeskError):
    """Model weights are missing, damaged or not the expected network."""


class DownloadError(WeightsError):
    """A model download failed (offline, server error, checksum mismatch)."""


class AnalysisError(SyncdeskError):
    """The analysis cannot produce a result for this clip (too short, nothing to score)."""


class Cancelled(SyncdeskError):
    """The user cancelled a long-running operation."""
