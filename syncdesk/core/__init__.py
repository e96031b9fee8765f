"""The engine's public face: what the command line, the app, batch and the server use.

``from syncdesk.core import analyze, AnalysisOptions, probe`` and so on. Names are loaded on first
use (PEP 562), so ``syncdesk --help`` or ``syncdesk models list`` never imports torch or PyAV; the
modules below stay importable for the engine's own code and its tests. The batch queue has its
own face, :mod:`syncdesk.core.batch`.
"""

from __future__ import annotations

from .lazy import lazy_exports

#: public name -> the module (below syncdesk.core) that holds it; ``module:attr`` renames
_EXPORTS: dict[str, str] = {
    # the pipeline
    "analyze": "analysis", "analyze_cached": "analysis",
    "AnalysisOptions": "options", "validate_options": "options", "DETECTORS": "options", "DEVICES": "options",
    "PRECISIONS": "options", "VSHIFT_RANGE": "options", "MIN_TRACK_RANGE": "options", "MIN_FACE_RANGE": "options",
    "CancelToken": "cancel", "ProgressCallback": "progress",
    "SyncdeskError": "errors", "Cancelled": "errors", "WeightsError": "errors", "MediaError": "errors",
    # results and what they mean
    "Analysis": "results", "Track": "results", "SCHEMA": "results", "SyncOverTime": "results",
    "SyncPoint": "results", "SyncSegment": "results", "SYNC_MODELS": "results",
    "segment_support": "sync.sync_model", "segment_supported": "sync.sync_model:supported",
    "Tolerance": "tolerance", "ToleranceVerdict": "results", "describe_tolerance": "tolerance:describe", "TOLERANCES": "tolerance",
    "DEFAULT_TOLERANCE": "tolerance", "parse_tolerance": "tolerance", "judge_tolerance": "tolerance:judge",
    "confident_parts": "tolerance", "outside_parts": "tolerance",
    "save_analysis": "results:save", "load_analysis": "results:load",
    "AnalysisCache": "cache", "CacheInfo": "cache", "DEFAULT_CACHE_BYTES": "cache:DEFAULT_MAX_BYTES",
    "PRESETS": "quality", "DEFAULT_PRESET": "quality", "AUTO_FIX_PRESET": "quality", "Preset": "quality", "direction": "quality",
    "verdict": "quality",
    "SPEAKING_THRESHOLD": "speaker", "frame_confidence": "speaker",
    # media and time
    "probe": "media", "MediaInfo": "media", "stream_audio": "media", "ANALYSIS_FPS": "media",
    "FRAME_MS": "media",
    "FrameReader": "frames", "VideoFrame": "frames", "read_envelope": "envelope", "ENVELOPE_BIN_S": "envelope", "read_thumbnails": "thumbnails",
    "timecode": "timecodes", "track_colour": "palette",
    # writing files
    "shift_audio": "export", "preflight": "export", "same_file": "export", "ExportResult": "export",
    "correct_audio": "export",
    "check_review_output": "annotate:check_output", "write_review": "annotate", "atomic_output": "outputs",
    # models, devices, detectors
    "MODELS": "models.weights", "ModelSpec": "models.weights", "model_path": "models.weights",
    "model_url": "models.weights", "locate": "models.weights", "verify_model": "models.weights:verify",
    "download_model": "models.download:download", "discard_partial": "models.download",
    "resolve_device": "models.device", "describe_device": "models.device", "device_name": "models.device",
    "dtype_name": "models.device", "resolve_precision": "models.device", "precision_in_use": "models.device",
    "load_syncnet": "sync.model",
    "resolve_detector": "faces.choose:resolve_name",
    "MB": "sizes", "human_size": "sizes",
    # where files live
    "data_dir": "settings", "models_dir": "settings", "cache_dir": "settings", "DATA_DIR_ENV": "settings",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
