"""What S3FD costs on a real clip, without its published weights.

S3FD's cost depends on the inputs it is given, not on its weights' values; but which inputs it is
given depends on the faces it finds (a search near a known face is a small region, a whole-frame
search is the frame at 0.25), and seeded random weights find none. So the faces come from the
bundled detector, recorded once, and S3FD runs its network on every input it would be given and
answers what the bundled detector answered there:

    python bench/s3fd_replay.py record CLIP ANSWERS.json
        ``syncdesk analyze CLIP --detector haar`` in this process, recording each search's answer
    python bench/s3fd_replay.py run CLIP ANSWERS.json S3FD_WEIGHTS -- ANALYZE_ARGS...
        ``syncdesk analyze CLIP --detector s3fd ANALYZE_ARGS`` in this process as the command line
        runs it (its malloc settings, its collector frozen after the imports; a fresh process: time it
        whole), S3FD's network run on each search's input, the recorded answers given back
    python bench/s3fd_replay.py every CLIP S3FD_WEIGHTS
        the original pipeline's face stage: every frame decoded and searched whole by S3FD at 0.25
        (``run_pipeline.py``'s ``inference_video``), nothing else

``bench_real.py --s3fd`` runs all three per clip.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncdesk.core.faces.detectors import Detection  # noqa: E402


def _boxes(found: Sequence[Detection]) -> list[list[float]]:
    return [[d.x1, d.y1, d.x2, d.y2, d.score] for d in found]


def _grey(image: Any) -> np.ndarray:
    """What the bundled detector searches: a decoded picture's luma plane, or the frame as it is."""
    from syncdesk.core.media import Picture

    return image.luma if isinstance(image, Picture) else image


class Recorder:
    """The bundled detector, each answer kept in call order; searching on S3FD's schedule."""

    def __init__(self, detector: Any) -> None:
        from syncdesk.core.faces.s3fd import S3FDDetector

        self.detector, self.name, self.answers = detector, detector.name, []
        self.needs_colour, self.search_every = True, S3FDDetector.search_every

    def detect(self, image: Any) -> list[Detection]:
        found = self.detector.detect(_grey(image))
        self.answers.append(["whole", _boxes(found)])
        return found

    def detect_near(self, image: Any, faces: Sequence[Detection]) -> list[Detection]:
        found = self.detector.detect_near(_grey(image), faces)
        self.answers.append(["near", _boxes(found)])
        return found


class Replay:
    """S3FD's network on each search's input; the recorded answer given back."""

    name = "s3fd"

    def __init__(self, detector: Any, answers: list) -> None:
        self.detector, self.answers, self.calls = detector, answers, 0
        self.needs_colour, self.search_every = detector.needs_colour, detector.search_every

    def _answer(self, kind: str) -> list[Detection]:
        recorded_kind, boxes = self.answers[self.calls]
        if recorded_kind != kind:
            raise RuntimeError(f"search {self.calls} was {recorded_kind!r} when recorded, {kind!r} now")
        self.calls += 1
        return [Detection(*box) for box in boxes]

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.detector.detect(image)
        return self._answer("whole")

    def detect_near(self, image: np.ndarray, faces: Sequence[Detection]) -> list[Detection]:
        self.detector.detect_near(image, faces)
        return self._answer("near")


def _analyze_with(wrap: Any, argv: list[str], as_program: bool = False) -> int:
    """``syncdesk ARGV`` with the detector wrapped; ``as_program``: as the console script runs it
    (:func:`syncdesk.cli.main` with no arguments), else as a test calls it (``main(argv)``)."""
    from syncdesk.cli import main
    from syncdesk.core.pipeline import engine_stage

    create = engine_stage.create_detector
    engine_stage.create_detector = lambda *args, **kwargs: wrap(create(*args, **kwargs))
    if as_program:
        sys.argv = ["syncdesk", *argv]
        return main()
    return main(argv)


def record(clip: str, out: str, analyze_args: list[str]) -> int:
    recorders: list[Recorder] = []

    def wrap(detector: Any) -> Recorder:
        recorders.append(Recorder(detector))
        return recorders[-1]

    code = _analyze_with(wrap, ["analyze", clip, "--detector", "haar", *analyze_args])
    Path(out).write_text(json.dumps(recorders[0].answers))
    return code


def run(clip: str, answers: str, s3fd: str, analyze_args: list[str]) -> int:
    recorded = json.loads(Path(answers).read_text())
    argv = ["analyze", clip, "--detector", "s3fd", "--s3fd-weights", s3fd, *analyze_args]
    return _analyze_with(lambda detector: Replay(detector, recorded), argv, as_program=True)


def every(clip: str, s3fd: str) -> int:
    from syncdesk.core import media
    from syncdesk.core.faces.s3fd import S3FDDetector
    from syncdesk.core.streaming import prefetch

    detector = S3FDDetector(s3fd, device="cpu")
    start = time.perf_counter()
    frames = sum(1 for frame in prefetch(media.iter_analysis_frames(clip)) if detector.detect(frame.image) is not None)
    print(json.dumps({"frames": frames, "s": round(time.perf_counter() - start, 2)}))
    return 0


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    args, rest = argv[:split], argv[split + 1:]
    if args[:1] == ["record"] and len(args) == 3:
        return record(args[1], args[2], rest)
    if args[:1] == ["run"] and len(args) == 4:
        return run(args[1], args[2], args[3], rest)
    if args[:1] == ["every"] and len(args) == 3:
        return every(args[1], args[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
