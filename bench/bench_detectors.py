"""Which face detector to bundle: recall and speed of detectors that ship inside a pip wheel.

Ground truth is composed, not labelled: frames of ``example.avi`` (a real 224x224 talking face) are
pasted as square tiles of known side at known places on synthetic backgrounds (blurred colour noise,
a "studio" texture made of the example's own blue-lights background, a "room" of flat shapes), at
640x360, 1280x720 and 1920x1080, under four lightings (normal, dark, bright, low contrast), one face
or two per frame, plus frames with no face for false positives.

The face's true box in a tile of side ``s`` is ``(0.15 s, 0, 0.85 s, 0.68 s)`` from the tile's
top-left: the median box of OpenCV's frontal-face cascades on the full-size tile (dlib's HOG box,
(0.22, 0.11, 0.78, 0.67), has IoU 0.66 with it). So the face is about 0.7 s wide. A hit is a
detection with IoU > 0.3 with a true box (greedy one-to-one matching); any other detection is a
false positive.

Candidates: the Haar cascades of opencv-python-headless 4.x (frontalface default / alt / alt2 /
alt_tree, with and without equalizeHist, work widths 480 / 640 / 960, minNeighbors 3 / 5, as
``syncdesk.core.faces.detectors.HaarFaceDetector`` runs them) and dlib's HOG frontal face detector
(``dlib-bin``, compiled into the library, no model file) when ``dlib`` imports.

Speed: ms per 1280x720 frame (resize, grey, equalize and detect: the whole ``detect``), single
threaded and with OpenCV's default threads, median over rounds. Run from the repository root in an
environment with numpy, av and opencv-python-headless<5 (and dlib-bin for dlib)::

    python bench/bench_detectors.py            # writes the tables into bench/detectors.md
    python bench/bench_detectors.py --quick    # fewer frames, for a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import av
import cv2
import numpy as np

try:
    import dlib
except ImportError:  # dlib-bin is a candidate, not a dependency
    dlib = None

BENCH_DIR = Path(__file__).resolve().parent
EXAMPLE = BENCH_DIR.parent.parent / "shared" / "data" / "example.avi"
REPORT = BENCH_DIR / "detectors.md"
BEGIN, END = "<!-- results: written by bench_detectors.py -->", "<!-- /results -->"

FRAME_SIZES = [(640, 360), (1280, 720), (1920, 1080)]
SIDES = [48, 64, 80, 96, 112, 128, 160, 192, 224, 288, 352, 400]
BUCKETS = [(48, 64), (80, 96), (112, 128), (160, 192), (224, 288), (352, 400)]
TRUE_BOX = (0.15, 0.0, 0.85, 0.68)  # of the tile side, from the tile's top-left
LIGHTS = {"normal": (1.0, 0.0), "dark": (0.5, 0.0), "bright": (1.2, 40.0), "low contrast": (0.45, 90.0)}
BACKGROUNDS = ["noise", "studio", "room"]
CASCADES = ["default", "alt", "alt2", "alt_tree"]
WORK_WIDTHS = [480, 640, 960]
SCALE_FACTORS = [1.1, 1.2]  # 1.2 only for default / alt / alt2: alt_tree is out at 1.1
NEIGHBOURS = [3, 5]
HIT_IOU = 0.3
LIGHT_MIN_SIDE = 96  # faces above every frame size's minSize (6% of the height)
CURRENT = "haar default eq w480 mn5 sf1.1"  # HaarFaceDetector's settings today
RECOMMENDED = "haar alt2 raw w960 mn3 sf1.2"  # bench/detectors.md says why

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Face:
    side: int
    x: int
    y: int
    source: int  # frame index in example.avi

    def box(self) -> Box:
        x1, y1, x2, y2 = TRUE_BOX
        return (self.x + x1 * self.side, self.y + y1 * self.side, self.x + x2 * self.side, self.y + y2 * self.side)


@dataclass(frozen=True)
class Scene:
    size: tuple[int, int]
    faces: tuple[Face, ...]
    background: str
    light: str
    seed: int


def example_frames() -> list[np.ndarray]:
    with av.open(str(EXAMPLE)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def background(kind: str, size: tuple[int, int], rng: np.random.Generator, source: list[np.ndarray]) -> np.ndarray:
    width, height = size
    if kind == "noise":
        coarse = rng.integers(30, 220, (max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8)
        image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    elif kind == "studio":  # the example's own backdrop: its left strip, mirrored and repeated
        strip = source[int(rng.integers(len(source)))][:, :28]
        strip = cv2.resize(np.hstack([strip, strip[:, ::-1]]), (56, height), interpolation=cv2.INTER_LINEAR)
        image = np.tile(strip, (1, width // 56 + 1, 1))[:, :width].copy()
    else:  # a room: a wall gradient with furniture-like blocks and lines
        ramp = np.linspace(rng.uniform(80, 200), rng.uniform(60, 180), height, dtype=np.float32)
        tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
        image = np.clip(ramp[:, None, None] * tint[None, None, :] * np.ones((1, width, 1), np.float32), 0, 255)
        image = image.astype(np.uint8)
        for _ in range(12):
            x1, y1 = int(rng.integers(width)), int(rng.integers(height))
            x2, y2 = x1 + int(rng.integers(width // 20, width // 3)), y1 + int(rng.integers(height // 20, height // 2))
            cv2.rectangle(image, (x1, y1), (x2, y2), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        for _ in range(6):
            start = (int(rng.integers(width)), int(rng.integers(height)))
            end = (int(rng.integers(width)), int(rng.integers(height)))
            cv2.line(image, start, end, tuple(int(v) for v in rng.integers(0, 255, 3)), max(1, width // 400))
        image = cv2.GaussianBlur(image, (0, 0), 1.5)
    noise = rng.normal(0.0, 5.0, image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def render(scene: Scene, source: list[np.ndarray]) -> np.ndarray:
    rng = np.random.default_rng(scene.seed)
    image = background(scene.background, scene.size, rng, source)
    for face in scene.faces:
        tile = cv2.resize(source[face.source], (face.side, face.side),
                          interpolation=cv2.INTER_AREA if face.side < 224 else cv2.INTER_CUBIC)
        image[face.y : face.y + face.side, face.x : face.x + face.side] = tile
    gain, bias = LIGHTS[scene.light]
    return np.clip(image.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def scenes(variants: int, pairs: int, empties: int, n_source: int) -> list[Scene]:
    """Every frame size x tile side x ``variants`` one-face frames, then two-face and no-face frames."""
    rng = np.random.default_rng(4)
    out: list[Scene] = []
    lights = list(LIGHTS)
    for size in FRAME_SIZES:
        width, height = size
        for side in (s for s in SIDES if s <= height - 16):
            for v in range(variants):
                face = Face(side, int(rng.integers(0, width - side)), int(rng.integers(0, height - side)),
                            int(rng.integers(n_source)))
                out.append(Scene(size, (face,), BACKGROUNDS[v % 3], lights[(v + side) % 4], int(rng.integers(1 << 30))))
        fitting = [s for s in SIDES if s <= min(height - 16, width // 2 - 16)]
        for v in range(pairs):
            left, right = (int(s) for s in rng.choice(fitting, 2))
            faces = (Face(left, int(rng.integers(0, width // 2 - left)), int(rng.integers(0, height - left)),
                          int(rng.integers(n_source))),
                     Face(right, width // 2 + int(rng.integers(0, width // 2 - right)),
                          int(rng.integers(0, height - right)), int(rng.integers(n_source))))
            out.append(Scene(size, faces, BACKGROUNDS[v % 3], lights[v % 4], int(rng.integers(1 << 30))))
        for v in range(empties):
            out.append(Scene(size, (), BACKGROUNDS[v % 3], lights[(v // 3) % 4], int(rng.integers(1 << 30))))
    return out


# --- detectors ---------------------------------------------------------------------------------

def work_image(image: np.ndarray, work_width: int, equalize: bool) -> tuple[np.ndarray, float]:
    """The grey copy a detector sees, as HaarFaceDetector makes it, and its scale."""
    height, width = image.shape[:2]
    scale = min(1.0, work_width / width)
    small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else image
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return (cv2.equalizeHist(grey) if equalize else grey), scale


def cascade(name: str) -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_frontalface_{name}.xml")
    if classifier.empty():
        raise SystemExit(f"haarcascade_frontalface_{name}.xml is missing: install opencv-python-headless<5")
    return classifier


def haar_name(casc: str, equalize: bool, work_width: int, neighbours: int, factor: float = 1.1) -> str:
    return f"haar {casc} {'eq' if equalize else 'raw'} w{work_width} mn{neighbours} sf{factor}"


def factors(casc: str) -> list[float]:
    return SCALE_FACTORS if casc != "alt_tree" else SCALE_FACTORS[:1]


def dlib_name(work_width: int, upsample: int) -> str:
    return f"dlib-hog w{work_width} up{upsample}"


DLIB_CONFIGS = [(480, 1), (640, 0), (640, 1), (960, 0), (960, 1)]


def haar_detect(classifier: cv2.CascadeClassifier, image: np.ndarray, equalize: bool, work_width: int,
                neighbours: int, factor: float = 1.1) -> list[Box]:
    grey, scale = work_image(image, work_width, equalize)
    min_side = max(16, round(min(grey.shape) * 0.06))
    found = classifier.detectMultiScale(grey, scaleFactor=factor, minNeighbors=neighbours, minSize=(min_side, min_side))
    return [(x / scale, y / scale, (x + w) / scale, (y + h) / scale) for x, y, w, h in found]


def dlib_detect(detector: Callable, image: np.ndarray, work_width: int, upsample: int) -> list[Box]:
    grey, scale = work_image(image, work_width, False)
    return [(r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale)
            for r in detector(grey, upsample)]


def all_detections(image: np.ndarray, classifiers: dict, hog: Optional[Callable]) -> dict[str, list[Box]]:
    """Every candidate's boxes on one frame. Each cascade runs once per (equalize, effective scale)
    with minNeighbors 0 and is grouped for each minNeighbors, which is what detectMultiScale does."""
    out: dict[str, list[Box]] = {}
    width = image.shape[1]
    for casc, classifier in classifiers.items():
        for equalize, factor in ((e, f) for e in (False, True) for f in factors(casc)):
            raw_by_scale: dict[float, tuple[list, float]] = {}
            for work_width in WORK_WIDTHS:
                scale = min(1.0, work_width / width)
                if scale not in raw_by_scale:
                    grey, scale = work_image(image, work_width, equalize)
                    min_side = max(16, round(min(grey.shape) * 0.06))
                    raw = classifier.detectMultiScale(grey, scaleFactor=factor, minNeighbors=0,
                                                      minSize=(min_side, min_side))
                    raw_by_scale[scale] = (np.asarray(raw).reshape(-1, 4).tolist(), scale)
                raw, scale = raw_by_scale[scale]
                for neighbours in NEIGHBOURS:
                    grouped, _ = cv2.groupRectangles(raw, neighbours, 0.2) if raw else ((), None)
                    out[haar_name(casc, equalize, work_width, neighbours, factor)] = [
                        (x / scale, y / scale, (x + w) / scale, (y + h) / scale) for x, y, w, h in grouped]
    if hog is not None:
        by_scale: dict[tuple[float, int], list[Box]] = {}
        for work_width, upsample in DLIB_CONFIGS:
            key = (min(1.0, work_width / width), upsample)
            if key not in by_scale:
                by_scale[key] = dlib_detect(hog, image, work_width, upsample)
            out[dlib_name(work_width, upsample)] = by_scale[key]
    return out


# --- scoring -----------------------------------------------------------------------------------

def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(truth: list[Box], found: list[Box]) -> tuple[list[bool], int]:
    """Which true boxes are hit (greedy by IoU, one-to-one), and how many detections hit nothing."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    hit, used = [False] * len(truth), [False] * len(found)
    for value, i, j in pairs:
        if value > HIT_IOU and not hit[i] and not used[j]:
            hit[i] = used[j] = True
    return hit, used.count(False)


@dataclass
class Tally:
    hits: dict  # (frame height, side) -> [hits, faces]
    both: list  # two-face frames: [both found, frames]
    empty_fp: list  # no-face frames: [false positives, frames]
    face_fp: list  # face frames: [false positives, frames]
    by_light: dict  # lighting -> [hits, faces], tiles of at least LIGHT_MIN_SIDE only

    @classmethod
    def new(cls) -> "Tally":
        return cls({}, [0, 0], [0, 0], [0, 0], {})

    def recall(self, height: Optional[int], sides: tuple[int, ...]) -> Optional[float]:
        counts = [v for (h, s), v in self.hits.items() if (height is None or h == height) and s in sides]
        faces = sum(c[1] for c in counts)
        return sum(c[0] for c in counts) / faces if faces else None


def evaluate(all_scenes: list[Scene], source: list[np.ndarray], classifiers: dict, hog) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    start = time.perf_counter()
    for n, scene in enumerate(all_scenes):
        image = render(scene, source)
        truth = [face.box() for face in scene.faces]
        for name, found in all_detections(image, classifiers, hog).items():
            tally = tallies.setdefault(name, Tally.new())
            hit, false = match(truth, found)
            for face, ok in zip(scene.faces, hit):
                cell = tally.hits.setdefault((scene.size[1], face.side), [0, 0])
                cell[0] += ok
                cell[1] += 1
                if face.side >= LIGHT_MIN_SIDE:
                    light = tally.by_light.setdefault(scene.light, [0, 0])
                    light[0] += ok
                    light[1] += 1
            if len(scene.faces) == 2:
                tally.both[0] += all(hit)
                tally.both[1] += 1
            bucket = tally.face_fp if scene.faces else tally.empty_fp
            bucket[0] += false
            bucket[1] += 1
        if (n + 1) % 25 == 0:
            print(f"  {n + 1}/{len(all_scenes)} frames, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return tallies


# --- speed -------------------------------------------------------------------------------------

def time_detector(detect: Callable[[np.ndarray], list], images: list[np.ndarray], rounds: int) -> float:
    """Median over rounds of the mean ms per frame."""
    detect(images[0])
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for image in images:
            detect(image)
        per_round.append((time.perf_counter() - start) * 1000.0 / len(images))
    return statistics.median(per_round)


def speed(all_scenes: list[Scene], source: list[np.ndarray], classifiers: dict, hog, rounds: int,
          height: int, only: Optional[set[str]] = None) -> dict[str, dict[str, float]]:
    """ms per frame of every candidate (or those named in ``only``) on 12 frames of this height."""
    wanted = (lambda names: True) if only is None else (lambda names: bool(only.intersection(names)))
    chosen = [s for s in all_scenes if s.size[1] == height]
    images = [render(s, source) for s in chosen[:: max(1, len(chosen) // 12)][:12]]
    default_threads = cv2.getNumThreads()
    out: dict[str, dict[str, float]] = {}
    for threads, label in ((1, "1 thread"), (default_threads, f"{default_threads} threads")):
        cv2.setNumThreads(threads)
        for casc, classifier in classifiers.items():
            for equalize, factor in ((e, f) for e in (False, True) for f in factors(casc)):
                for work_width in WORK_WIDTHS:
                    names = [haar_name(casc, equalize, work_width, n, factor) for n in NEIGHBOURS]
                    if not wanted(names):
                        continue
                    ms = time_detector(lambda im: haar_detect(classifier, im, equalize, work_width, 5, factor),
                                       images, rounds)
                    for name in names:  # grouping costs nothing measurable: one timing for all minNeighbors
                        out.setdefault(name, {})[label] = ms
        if hog is not None:
            for work_width, upsample in DLIB_CONFIGS:
                if not wanted([dlib_name(work_width, upsample)]):
                    continue
                ms = time_detector(lambda im: dlib_detect(hog, im, work_width, upsample), images, rounds)
                out.setdefault(dlib_name(work_width, upsample), {})[label] = ms
    cv2.setNumThreads(default_threads)
    return out


# --- report ------------------------------------------------------------------------------------

def pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.0f}"


def overall(tally: Tally) -> float:
    """Mean recall over the three frame sizes: the ranking key."""
    return statistics.mean(tally.recall(h, tuple(SIDES)) or 0.0 for _, h in FRAME_SIZES)


def shown_names(tallies: dict[str, Tally], top: int) -> list[str]:
    """The ``top`` best by overall recall (then fewer false positives), the current default, and RECOMMENDED."""
    names = sorted(tallies, key=lambda n: (-overall(tallies[n]), tallies[n].empty_fp[0] + tallies[n].face_fp[0]))
    extra = [n for n in (CURRENT, RECOMMENDED) if n in tallies and n not in names[:top]]
    return names[:top] + extra


def tables(tallies: dict[str, Tally], times: dict[int, dict[str, dict[str, float]]], all_scenes: list[Scene],
           top: int) -> str:
    heights = [h for _, h in FRAME_SIZES]
    all_sides = tuple(SIDES)
    thread_labels = sorted({label for t in times[720].values() for label in t})
    names = sorted(tallies, key=lambda n: (-overall(tallies[n]), tallies[n].empty_fp[0] + tallies[n].face_fp[0]))
    lines = [f"opencv-python-headless {cv2.__version__}" + (f", dlib {dlib.__version__}" if dlib else ", dlib absent")
             + f"; {len(all_scenes)} frames ("
             + ", ".join(f"{sum(1 for s in all_scenes if s.size[1] == h)} at {w}x{h}" for w, h in FRAME_SIZES)
             + f"); {sum(len(s.faces) for s in all_scenes)} faces; "
             f"{sum(1 for s in all_scenes if not s.faces)} frames without a face.", ""]
    lines += ["## All candidates, sorted by mean recall over the three frame sizes", "",
              "Recall in % over all tile sides (face about 0.7 x side); `fp/empty` = false detections per "
              "no-face frame; `fp/face` = detections hitting no face per face frame; `both` = two-face frames "
              "with both found; ms per 1280x720 frame (median of rounds; minNeighbors does not change the cost).",
              "", "| detector | 360p | 720p | 1080p | both | fp/empty | fp/face | "
              + " | ".join(f"ms 720p {label}" for label in thread_labels) + " |",
              "| --- " * (7 + len(thread_labels)) + "|"]
    for name in names:
        t = tallies[name]
        cells = [pct(t.recall(h, all_sides)) for h in heights]
        cells += [pct(t.both[0] / t.both[1] if t.both[1] else None),
                  f"{t.empty_fp[0] / max(1, t.empty_fp[1]):.2f}", f"{t.face_fp[0] / max(1, t.face_fp[1]):.2f}"]
        cells += [f"{times[720].get(name, {}).get(label, float('nan')):.1f}" for label in thread_labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    shown = shown_names(tallies, top)
    lines += ["", f"## Recall by tile side (%): the {top} best, the current default and the recommended one", ""]
    for width, height in FRAME_SIZES:
        sides = [s for s in SIDES if s <= height - 16]
        lines += [f"### {width}x{height}", "", "| detector | " + " | ".join(str(s) for s in sides) + " |",
                  "| --- " * (1 + len(sides)) + "|"]
        for name in shown:
            lines.append(f"| {name} | " + " | ".join(pct(tallies[name].recall(height, (s,))) for s in sides) + " |")
        lines.append("")
    lines += ["## Recall by tile-side bucket, all frame sizes (%)", "",
              "| detector | " + " | ".join(f"{a}-{b}" for a, b in BUCKETS) + " |", "| --- " * (1 + len(BUCKETS)) + "|"]
    for name in shown:
        lines.append(f"| {name} | " + " | ".join(pct(tallies[name].recall(None, b)) for b in BUCKETS) + " |")
    lines += ["", f"## Recall by lighting (%), all frame sizes, tiles of {LIGHT_MIN_SIDE} px and more", "",
              "| detector | " + " | ".join(LIGHTS) + " |", "| --- " * (1 + len(LIGHTS)) + "|"]
    for name in shown:
        cells = [pct(c[0] / c[1] if (c := tallies[name].by_light.get(light, [0, 0]))[1] else None) for light in LIGHTS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## ms per frame by frame size (median of rounds)", "",
              "| detector | " + " | ".join(f"{h}p {label}" for h in heights for label in thread_labels) + " |",
              "| --- " * (1 + len(heights) * len(thread_labels)) + "|"]
    for name in shown:
        cells = [f"{times.get(h, {}).get(name, {}).get(label, float('nan')):.1f}" for h in heights
                 for label in thread_labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(text: str) -> None:
    block = f"{BEGIN}\n{text}{END}"
    old = REPORT.read_text() if REPORT.exists() else ""
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        new = "# Bundled face detector: recall and speed\n\n" + block + "\n" + old
    REPORT.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 variants per side, few two/no-face frames")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (median)")
    parser.add_argument("--top", type=int, default=8, help="detectors shown in the per-size tables")
    parser.add_argument("--no-write", action="store_true", help="print only, leave bench/detectors.md alone")
    args = parser.parse_args()

    source = example_frames()
    classifiers = {name: cascade(name) for name in CASCADES}
    hog = dlib.get_frontal_face_detector() if dlib is not None else None
    all_scenes = scenes(*((2, 4, 4) if args.quick else (8, 12, 15)), len(source))
    print(f"recall on {len(all_scenes)} frames ...", file=sys.stderr)
    tallies = evaluate(all_scenes, source, classifiers, hog)
    print("speed at 720p ...", file=sys.stderr)
    rounds = 2 if args.quick else args.rounds
    times = {720: speed(all_scenes, source, classifiers, hog, rounds, 720)}
    for height in (360, 1080):
        print(f"speed at {height}p ...", file=sys.stderr)
        times[height] = speed(all_scenes, source, classifiers, hog, rounds, height,
                              set(shown_names(tallies, args.top)))
    text = tables(tallies, times, all_scenes, args.top)
    print(text)
    if not args.no_write:
        write_report(text)


if __name__ == "__main__":
    main()
