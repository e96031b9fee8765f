"""Run the original SyncNet demo's evaluation (joonson/syncnet_python) on CPU, unmodified.

Does what its ``demo_syncnet.py`` does -- ``SyncNetInstance()``, ``loadParameters(weights)``,
``evaluate(opt, videofile)`` with the demo's defaults (batch 20, vshift 15) -- from a checkout given
by ``--original``; nothing of it is copied here. Its hard-coded CUDA calls become no-ops and an
``ffmpeg`` (imageio-ffmpeg's binary) is put on ``PATH`` for its extraction calls (which it runs through a shell).
The evaluation prints its own ``AV offset`` / ``Min dist`` / ``Confidence``; this script adds one
line ``BENCH_RESULT {json}`` with its in-process timings.

Meant to run in a fresh process of its own (``bench_analyze.py`` starts it)::

    python bench/run_original.py --original DIR --weights W --video example.avi
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

RESULT_PREFIX = "BENCH_RESULT "


def _patch_torch_for_cpu() -> None:
    import torch

    def _stay_on_cpu(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self

    original_load = torch.load

    def _load_on_cpu(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("map_location", "cpu")
        return original_load(*args, **kwargs)

    torch.Tensor.cuda = _stay_on_cpu  # type: ignore[method-assign]
    torch.nn.Module.cuda = _stay_on_cpu  # type: ignore[method-assign]
    torch.load = _load_on_cpu  # type: ignore[assignment]


def _put_ffmpeg_on_path(bin_dir: Path) -> None:
    import imageio_ffmpeg

    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def run(original: Path, weights: Path, video: Path, batch_size: int, vshift: int) -> dict:
    """Construct, load and evaluate as ``demo_syncnet.py`` does; return in-process timings."""
    t_start = time.perf_counter()
    _patch_torch_for_cpu()
    sys.path.insert(0, str(original))
    from SyncNetInstance import SyncNetInstance  # noqa: E402  (from the checkout)

    with tempfile.TemporaryDirectory(prefix="syncnet-original-") as scratch:
        scratch_dir = Path(scratch)
        (scratch_dir / "bin").mkdir()
        _put_ffmpeg_on_path(scratch_dir / "bin")
        opt = argparse.Namespace(
            initial_model=str(weights),
            batch_size=batch_size,
            vshift=vshift,
            videofile=str(video),
            tmp_dir=str(scratch_dir / "work"),
            reference="bench",
        )
        t_import = time.perf_counter()
        instance = SyncNetInstance()
        instance.loadParameters(opt.initial_model)
        print("Model %s loaded." % opt.initial_model)
        t_loaded = time.perf_counter()
        instance.evaluate(opt, videofile=opt.videofile)
        t_done = time.perf_counter()
    return {
        "import_s": t_import - t_start,
        "load_s": t_loaded - t_import,
        "evaluate_s": t_done - t_loaded,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run the original SyncNet demo's evaluation on CPU.")
    parser.add_argument("--original", type=Path, required=True, help="joonson/syncnet_python checkout")
    parser.add_argument("--weights", type=Path, required=True, help="SyncNet state_dict file")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=20, help="the demo's default: 20")
    parser.add_argument("--vshift", type=int, default=15, help="the demo's default: 15")
    args = parser.parse_args(argv)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    timings = run(
        args.original.resolve(),
        args.weights.resolve(),
        args.video.resolve(),
        args.batch_size,
        args.vshift,
    )
    print(RESULT_PREFIX + json.dumps(timings), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
