"""S3FD: the published key names, safe loading, prior boxes, decoding, NMS, boxes in source pixels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from syncdesk.cli import main
from syncdesk.core.errors import WeightsError
from syncdesk.core.faces.detectors import Detection
from syncdesk.core.faces.s3fd import S3FD, S3FDDetector, decode, nms, prior_boxes, to_detections
from syncdesk.core.models.weights import model_path

from .face_clips import Tile, make_faces_clip

#: the keys of the published sfd_face.pth, in order (the pipeline's detectors/s3fd/nets.py)
PUBLISHED_KEYS = [
    *(f"vgg.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33) for p in ("weight", "bias")),
    "L2Norm3_3.weight", "L2Norm4_3.weight", "L2Norm5_3.weight",
    *(f"extras.{i}.{p}" for i in range(4) for p in ("weight", "bias")),
    *(f"loc.{i}.{p}" for i in range(6) for p in ("weight", "bias")),
    *(f"conf.{i}.{p}" for i in range(6) for p in ("weight", "bias")),
]
#: the heads' maps for a 1280x720 frame at scale 0.25 (a 320x180 network input)
MAPS_720P = [(45, 80), (23, 40), (11, 20), (5, 10), (3, 5), (2, 3)]
LOGIT_95 = math.log(19)  # softmax([0, log 19]) = [0.05, 0.95]


@pytest.fixture(scope="module")
def shapes() -> dict[str, torch.Size]:
    return {key: tensor.shape for key, tensor in S3FD().state_dict().items()}


def zero_state(shapes: dict[str, torch.Size], **biases: list[float]) -> dict[str, torch.Tensor]:
    """All weights zero, so each head outputs its bias everywhere; ``conf_5=[...]`` sets ``conf.5.bias``."""
    state = {key: torch.zeros(shape) for key, shape in shapes.items()}
    for name, values in biases.items():
        state[name.replace("_", ".") + ".bias"] = torch.tensor(values)
    return state


def save(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)
    return path


def test_network_has_the_published_key_names_and_shapes(shapes):
    assert list(shapes) == PUBLISHED_KEYS
    assert shapes["vgg.0.weight"] == (64, 3, 3, 3)
    assert shapes["vgg.31.weight"] == (1024, 512, 3, 3)  # fc6, dilated
    assert shapes["vgg.33.weight"] == (1024, 1024, 1, 1)  # fc7
    assert shapes["L2Norm3_3.weight"] == (256,) and shapes["L2Norm5_3.weight"] == (512,)
    assert shapes["extras.3.weight"] == (256, 128, 3, 3)
    assert shapes["conf.0.weight"] == (4, 256, 3, 3)  # three background scores and a face
    assert shapes["conf.3.weight"] == (2, 1024, 3, 3) and shapes["loc.5.weight"] == (4, 256, 3, 3)


def test_heads_are_laid_out_like_the_priors(shapes):
    net = S3FD()
    # the first head's background is the max of its three background scores: max(3, 1, 0) = 3
    net.load_state_dict(zero_state(shapes, conf_0=[3.0, 1.0, 0.0, 3 + LOGIT_95], loc_2=[1.0, 2.0, 3.0, 4.0]))
    with torch.inference_mode():
        loc, faces, sizes = net.eval()(torch.zeros(1, 3, 180, 320))
    assert sizes == MAPS_720P
    counts = [rows * cols for rows, cols in sizes]
    assert loc.shape == (1, sum(counts), 4) and faces.shape == (1, sum(counts))
    first = faces[0, : counts[0]]
    assert torch.allclose(first, torch.full_like(first, 0.95))
    assert torch.allclose(faces[0, counts[0]:], torch.full_like(faces[0, counts[0]:], 0.5))
    head_2 = slice(sum(counts[:2]), sum(counts[:3]))
    assert torch.equal(loc[0, head_2], torch.tensor([[1.0, 2.0, 3.0, 4.0]]).expand(counts[2], 4))
    assert not loc[0, : head_2.start].any() and not loc[0, head_2.stop:].any()


# --------------------------------------------------------------------------- loading


def test_seeded_random_weights_load_and_detect(tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        weights = save(S3FD().state_dict(), tmp_path / "random.pth")
    detector = S3FDDetector(weights, device="cpu")
    assert detector.name == "s3fd" and not detector.net.training
    found = detector.detect(np.random.default_rng(0).integers(0, 256, (720, 1280, 3), np.uint8))
    assert isinstance(found, list)
    assert all(isinstance(d, Detection) and d.score > 0.9 and np.isfinite([d.x1, d.y1, d.x2, d.y2]).all()
               for d in found)


def test_a_face_everywhere_on_the_coarsest_head_is_one_box_in_source_pixels(shapes, tmp_path):
    # every stride-128 prior (512 px square) scores 0.95; they all overlap, so NMS keeps one
    weights = save(zero_state(shapes, conf_5=[0.0, LOGIT_95]), tmp_path / "coarse.pth")
    [face] = S3FDDetector(weights, device="cpu").detect(np.zeros((720, 1280, 3), np.uint8))
    assert face.score == pytest.approx(0.95)
    assert face.x2 - face.x1 == pytest.approx(2048) and face.y2 - face.y1 == pytest.approx(2048)  # 512 / 0.25
    centre = ((face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2)
    assert any(centre == pytest.approx((4 * (64 + 128 * col), 4 * (64 + 128 * row)))
               for row in range(2) for col in range(3))


def test_a_frame_too_small_for_a_quarter_is_reduced_less(shapes, tmp_path):
    weights = save(zero_state(shapes, conf_5=[0.0, LOGIT_95]), tmp_path / "coarse.pth")
    [face] = S3FDDetector(weights, device="cpu").detect(np.zeros((64, 80, 3), np.uint8))  # 16x20 at 0.25: no map
    assert face.x2 - face.x1 == pytest.approx(1024) and face.y2 - face.y1 == pytest.approx(1024)  # at 0.5: 512 / 0.5


def test_wrong_key_is_a_clear_error(shapes, tmp_path):
    state = zero_state(shapes)
    state["conf.6.bias"] = state.pop("conf.5.bias")
    with pytest.raises(WeightsError, match=r"renamed\.pth is not an S3FD state_dict \(missing conf\.5\.bias\)"):
        S3FDDetector(save(state, tmp_path / "renamed.pth"), device="cpu")


def test_wrong_shape_is_a_clear_error(shapes, tmp_path):
    state = zero_state(shapes)
    state["conf.0.weight"] = torch.zeros(2, 256, 3, 3)
    with pytest.raises(WeightsError, match=r"not an S3FD state_dict \(conf\.0\.weight has shape \(2, 256, 3, 3\), "
                                           r"expected \(4, 256, 3, 3\)\)"):
        S3FDDetector(save(state, tmp_path / "shape.pth"), device="cpu")


def test_a_syncnet_file_is_not_taken_for_s3fd(random_weights):
    with pytest.raises(WeightsError, match=r"random\.model is not an S3FD state_dict \(missing L2Norm3_3\.weight, "):
        S3FDDetector(random_weights, device="cpu")


# --------------------------------------------------------------------------- priors, decoding, NMS


def test_prior_boxes_are_cell_centred_row_by_row():
    priors = prior_boxes((8, 16), [(2, 4)], strides=(4,), sides=(16,))
    assert priors.shape == (8, 4)
    assert priors[0] == pytest.approx([2 / 16, 2 / 8, 1.0, 2.0])  # cx, cy, w, h as fractions of the input
    assert priors[1] == pytest.approx([6 / 16, 2 / 8, 1.0, 2.0])  # next column
    assert priors[4] == pytest.approx([2 / 16, 6 / 8, 1.0, 2.0])  # next row
    full = prior_boxes((180, 320), MAPS_720P)
    assert len(full) == 3600 + 920 + 220 + 50 + 15 + 6
    assert full[-1] == pytest.approx([320 / 320, 192 / 180, 512 / 320, 512 / 180])  # last cell of stride 128


def test_zero_offsets_decode_to_the_priors():
    priors = np.array([[0.5, 0.5, 0.2, 0.4], [0.1, 0.9, 0.1, 0.1]], np.float32)
    assert decode(np.zeros((2, 4), np.float32), priors) == pytest.approx(
        np.array([[0.4, 0.3, 0.6, 0.7], [0.05, 0.85, 0.15, 0.95]]))


def test_offsets_move_the_centre_by_a_tenth_and_scale_the_size_by_exp_a_fifth():
    priors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    loc = np.array([[1.0, -2.0, math.log(2) / 0.2, 0.0]], np.float32)
    # centre (0.5 + 0.1 * 0.2, 0.5 - 0.2 * 0.4) = (0.52, 0.42); size (0.4, 0.4)
    assert decode(loc, priors)[0] == pytest.approx([0.32, 0.22, 0.72, 0.62])


def test_nms_keeps_the_best_of_overlapping_boxes_in_score_order():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [7, 0, 17, 10]], np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.7])
    # 0 and 1 overlap by 0.82 IoU; 3 overlaps 1 by 0.25 and 0 by 0.18; 2 touches nothing
    assert nms(boxes, scores, 0.3).tolist() == [1, 3, 2]
    assert nms(boxes, scores, 0.2).tolist() == [1, 2]
    assert nms(boxes[:0], scores[:0], 0.3).tolist() == []


def test_detections_are_thresholded_suppressed_twice_and_in_source_pixels():
    priors = np.array([[0.25, 0.5, 0.1, 0.2], [0.27, 0.5, 0.1, 0.2], [0.75, 0.5, 0.1, 0.2],
                       [0.32, 0.5, 0.1, 0.2]], np.float32)
    loc = np.zeros((4, 4), np.float32)
    # prior 1 overlaps prior 0 by 0.67; prior 3 overlaps prior 0 by 0.18 (kept at 0.3, not at 0.1)
    found = to_detections(loc, np.array([0.95, 0.93, 0.92, 0.91]), priors, (720, 1280), 0.9)
    assert [d.score for d in found] == pytest.approx([0.95, 0.92])
    assert [found[0].x1, found[0].y1, found[0].x2, found[0].y2] == pytest.approx([256, 288, 384, 432])
    assert to_detections(loc, np.array([0.95, 0.1, 0.9, 0.2]), priors, (720, 1280), 0.9) == [found[0]]


def test_absurd_offsets_are_dropped_not_passed_on():
    priors = np.array([[0.5, 0.5, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1]], np.float32)
    loc = np.array([[0, 0, 1e4, 0], [0, 0, -1e4, -1e4]], np.float32)  # infinite and zero size
    assert to_detections(loc, np.array([0.99, 0.99]), priors, (720, 1280), 0.9) == []


class FakeNet:
    """Stands in for the network: records its input, answers hand-made outputs for a 320x180 input."""

    def __init__(self, loc: np.ndarray, faces: np.ndarray) -> None:
        self.loc, self.faces = torch.from_numpy(loc)[None], torch.from_numpy(faces)[None]
        self.seen: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor):
        self.seen.append(x.clone())
        return self.loc, self.faces, MAPS_720P


def test_detect_feeds_the_demo_s_input_and_maps_boxes_back_from_scale_quarter(shapes, tmp_path, monkeypatch):
    detector = S3FDDetector(save(zero_state(shapes), tmp_path / "zero.pth"), device="cpu")
    count = sum(rows * cols for rows, cols in MAPS_720P)
    loc, faces = np.zeros((count, 4), np.float32), np.zeros(count, np.float32)
    faces[10 * 80 + 20] = 0.97  # stride 4, row 10, column 20: centre (82, 42) in the input, 16 px
    second = 3600 + 5 * 40 + 30  # stride 8, row 5, column 30: centre (244, 44), 32 px
    faces[second], loc[second] = 0.93, [0.5, -0.5, 0.0, math.log(1.5) / 0.2]
    faces[3600 + 900] = 0.85  # below the threshold
    fake = FakeNet(loc, faces)
    monkeypatch.setattr(detector, "net", fake)

    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, :640] = (104, 117, 123)  # BGR: the mean the network expects, so zero
    frame[:, 640:] = (0, 0, 255)  # pure red
    found = detector.detect(frame)

    [x] = fake.seen
    assert x.shape == (1, 3, 180, 320)
    assert not x[..., :150].any()
    assert x[0, :, :, 170:].amax(dim=(1, 2)).tolist() == [132.0, -117.0, -104.0]  # RGB less (123, 117, 104)
    assert x[0, :, :, 170:].amin(dim=(1, 2)).tolist() == [132.0, -117.0, -104.0]
    assert [d.score for d in found] == pytest.approx([0.97, 0.93])
    assert [found[0].x1, found[0].y1, found[0].x2, found[0].y2] == pytest.approx([296, 136, 360, 200])
    # centre (244 + 0.1 * 0.5 * 32, 44 - 0.1 * 0.5 * 32) = (245.6, 42.4); size 32 x 48; times 4
    assert [found[1].x1, found[1].y1, found[1].x2, found[1].y2] == pytest.approx([918.4, 73.6, 1046.4, 265.6])


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def one_face(tmp_path_factory, example_avi) -> Path:
    return make_faces_clip(tmp_path_factory.mktemp("s3fd") / "one face.mp4", example_avi,
                           [Tile(1, lambda n: (200, 68))], 0, seconds=4)


def test_analyze_with_random_s3fd_weights_exits_cleanly(one_face, oracle_weights, capsys):
    model_path("s3fd").parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        save(S3FD().state_dict(), model_path("s3fd"))
    code = main(["analyze", str(one_face), "--weights", str(oracle_weights), "--detector", "s3fd", "--quiet"])
    assert code == 0 or (code == 1 and "no face found" in capsys.readouterr().err)


def test_analyze_with_s3fd_follows_its_boxes(one_face, oracle_weights, shapes, tmp_path):
    model_path("s3fd").parent.mkdir(parents=True, exist_ok=True)
    save(zero_state(shapes, conf_5=[0.0, LOGIT_95]), model_path("s3fd"))  # one 2048 px box per frame
    out = tmp_path / "s3fd.json"
    assert main(["analyze", str(one_face), "--weights", str(oracle_weights), "--detector", "s3fd",
                 "--json", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["engine"]["detector"] == "s3fd"
    [track] = doc["tracks"]
    assert (track["start_frame"], track["end_frame"]) == (0, 99)
    assert all(box[3] - box[1] == pytest.approx(2048, abs=1) for box in track["boxes"])


def test_an_s3fd_file_given_explicitly_is_used_and_auto_means_s3fd(tmp_path):
    from syncdesk.core.errors import WeightsError
    from syncdesk.core.faces.choose import create_detector, resolve_name

    assert resolve_name("auto") == "haar"  # nothing downloaded in the test's data dir
    weights = tmp_path / "my models" / "sfd_face.pth"
    weights.parent.mkdir()
    torch.save(S3FD().state_dict(), weights)
    assert resolve_name("auto", weights) == "s3fd"
    assert create_detector("auto", "cpu", weights).name == "s3fd"
    with pytest.raises(WeightsError, match="not found"):  # given but missing: an error, not a quiet fallback
        resolve_name("auto", tmp_path / "missing.pth")


def test_analyze_takes_s3fd_weights_from_a_path(one_face, oracle_weights, shapes, tmp_path):
    weights = tmp_path / "elsewhere" / "sfd_face.pth"
    weights.parent.mkdir()
    save(zero_state(shapes, conf_5=[0.0, LOGIT_95]), weights)  # one 2048 px box per frame
    out = tmp_path / "auto.json"
    assert main(["analyze", str(one_face), "--weights", str(oracle_weights), "--s3fd-weights", str(weights),
                 "--json", str(out), "--quiet"]) == 0  # --detector auto: S3FD, because a file was given
    doc = json.loads(out.read_text())
    assert doc["engine"]["detector"] == "s3fd"
    assert all(box[3] - box[1] == pytest.approx(2048, abs=1) for box in doc["tracks"][0]["boxes"])


@pytest.mark.parametrize("decoded", [False, True])
def test_a_search_near_a_face_runs_on_the_region_around_it_scaled_to_the_near_size(shapes, tmp_path, monkeypatch,
                                                                                 decoded):
    """On a BGR frame, or on a decoded picture of which only the region is converted."""
    import av

    from syncdesk.core.faces import s3fd
    from syncdesk.core.media import Picture

    detector = S3FDDetector(save(zero_state(shapes), tmp_path / "zero.pth"), device="cpu")
    seen = []
    rng = np.random.default_rng(4)
    bgr = cv2.resize(rng.integers(0, 256, (27, 48, 3), dtype=np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
    reference = frame.to_ndarray(format="bgr24")

    def network_input(region: np.ndarray, scale: float) -> np.ndarray:
        seen.append((region.shape[:2], scale))
        assert region.ndim == 3 and np.abs(region.astype(int) - reference[146:710, 846:1410]).mean() < 1.5
        return np.zeros((88, 88, 3), np.uint8)

    monkeypatch.setattr(s3fd, "network_input", network_input)
    monkeypatch.setattr(detector, "_run", lambda inputs, sources: [[Detection(10, 20, 266, 276, 0.95)]])  # region px
    frame = Picture(frame) if decoded else reference
    [face] = detector.detect_near(frame, [Detection(1000, 300, 1256, 556)])  # 256 px: a region of 2.2x that
    assert seen == [((564, 564), pytest.approx(s3fd.NEAR_PX / 256))]  # x 846-1410, y 146-710: centred on the face
    assert (face.x1, face.y1, face.x2, face.y2) == (846 + 10, 146 + 20, 846 + 266, 146 + 276)
    assert face.score == 0.95
    assert detector.detect_near(frame, [Detection(1900, 1060, 1910, 1070)]) == []  # a corner region too small to search


def test_searches_near_faces_of_one_input_size_are_one_batch(shapes, tmp_path, monkeypatch):
    """Faces scale to the same input (a region the frame's edge would cut is moved inside it): one
    pass of the network, each answer mapped back to its own region; a region larger than the frame
    (cut by it) scales to another size, a batch of its own."""
    detector = S3FDDetector(save(zero_state(shapes), tmp_path / "zero.pth"), device="cpu")
    batches = []

    def run(inputs: list[np.ndarray], sources: list[tuple[int, int]]) -> list[list[Detection]]:
        batches.append(([i.shape for i in inputs], sources))
        return [[Detection(10 * (n + 1), 0, 10 * (n + 1) + 100, 100, 0.95)] for n in range(len(inputs))]

    monkeypatch.setattr(detector, "_run", run)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    left, right, edge = Detection(300, 300, 556, 556), Detection(1300, 300, 1556, 556), Detection(1800, 0, 1900, 100)
    found = detector.detect_near(frame, [left, right, edge])
    assert batches == [([(88, 88, 3)] * 3, [(564, 564), (564, 564), (220, 220)])]
    # region origins plus each answer: the edge's region is 1700-1920 x 0-220, not cut to 1740-1920 x 0-160
    assert sorted((d.x1, d.y1) for d in found) == [(146 + 10, 146), (1146 + 20, 146), (1700 + 30, 0)]

    batches.clear()
    detector.detect_near(frame, [left, Detection(700, 200, 1300, 800)])  # a 1320 px region in a 1080 px frame
    assert [len(shapes) for shapes, _ in batches] == [1, 1]

    # the network itself: a batch of two in, each input's answers out (the coarsest head finds one box in each)
    real = S3FDDetector(save(zero_state(shapes, conf_5=[0.0, LOGIT_95]), tmp_path / "coarse.pth"), device="cpu")
    calls = []
    forward = real.net.forward
    real.net.forward = lambda x: calls.append(tuple(x.shape)) or forward(x)
    real.detect_near(frame, [left, right])
    assert calls == [(2, 3, 88, 88)]
    [first], [second] = real._run([np.zeros((88, 88, 3), np.uint8)] * 2, [(564, 564), (282, 282)])
    assert first.size == pytest.approx(2 * second.size)  # the same answer, each in its own source's pixels


# --------------------------------------------------------------------------- arithmetic


def test_bfloat16_s3fd_scores_and_places_boxes_as_float32_does(example_avi, tmp_path):
    """Fast mode runs S3FD's convolutions in bfloat16 where the CPU computes it natively: on a real
    frame (seeded weights: the published ones are not here) every prior's face probability moves by
    less than 0.01 against float32 and every decoded box by less than a pixel of the network's input."""
    import av

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        weights = save(S3FD().state_dict(), tmp_path / "seeded.pth")
    with av.open(str(example_avi)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    outputs = {}
    for dtype in (torch.float32, torch.bfloat16):
        detector = S3FDDetector(weights, device="cpu", dtype=dtype)
        assert {p.dtype for p in detector.net.parameters()} == {dtype}
        captured = []
        forward = detector.net.forward
        detector.net.forward = lambda x: captured.append(forward(x)) or captured[-1]
        detector.detect(frame)
        loc, faces, sizes = captured[0]
        assert loc.dtype == faces.dtype == torch.float32  # heads' scores and offsets in float32 either way
        priors = prior_boxes((frame.shape[0] // 4, frame.shape[1] // 4), sizes)
        outputs[dtype] = faces[0].numpy(), decode(loc[0].numpy(), priors) * frame.shape[1] / 4
    (faces32, boxes32), (faces16, boxes16) = outputs[torch.float32], outputs[torch.bfloat16]
    assert np.abs(faces16 - faces32).max() < 0.01
    assert np.abs(boxes16 - boxes32).max() < 1.0


@pytest.mark.parametrize("flags, dtype", [(["--precision", "bfloat16"], torch.bfloat16), (["--exact"], torch.float32)])
def test_s3fd_computes_in_the_analysis_arithmetic(one_face, oracle_weights, shapes, tmp_path, monkeypatch, flags,
                                                  dtype):
    from syncdesk.core.pipeline import engine_stage

    made = []
    create = engine_stage.create_detector
    monkeypatch.setattr(engine_stage, "create_detector", lambda *a, **k: made.append(create(*a, **k)) or made[-1])
    weights = save(zero_state(shapes, conf_5=[0.0, LOGIT_95]), tmp_path / "coarse.pth")  # one 2048 px box a frame
    out = tmp_path / "doc.json"
    assert main(["analyze", str(one_face), "--weights", str(oracle_weights), "--s3fd-weights", str(weights),
                 "--json", str(out), "--quiet", "--device", "cpu", *flags]) == 0
    assert {p.dtype for p in made[0].net.parameters()} == {dtype}
    doc = json.loads(out.read_text())
    assert all(box[3] - box[1] == pytest.approx(2048, abs=1) for box in doc["tracks"][0]["boxes"])
