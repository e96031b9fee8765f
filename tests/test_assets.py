"""Resources are found through syncdesk.assets from the installed package, and the bundle recipe keeps weights out."""

from __future__ import annotations

import importlib.util
import re
import struct
import sys
import types
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QWidget

from syncdesk import assets
from syncdesk.core.models.weights import MODELS

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].astype(int)


def load_packaging_module(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", assets.ICON_SIZES)
def test_each_icon_size_is_a_png_of_that_size(size):
    assert png_size(assets.icon_path(size)) == (size, size)


def test_an_icon_size_that_was_not_rendered_is_refused():
    with pytest.raises(ValueError, match="sizes: 16, 32"):
        assets.icon_path(24)


def test_the_icon_source_is_a_square_svg():
    root = ET.fromstring(assets.app_icon_svg())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, width, height = map(float, root.get("viewBox", "").split())
    assert width == height > 0


@pytest.mark.parametrize("size", (16, 64, 512))
def test_the_pngs_are_renderings_of_the_current_svg(qapp, size):
    from syncdesk.resources.render_icons import render

    shipped = pixels(QImage(str(assets.icon_path(size))))
    fresh = pixels(render(assets.app_icon_svg(), size))
    assert np.abs(shipped - fresh).mean() < 1.0, "run resources/render_icons.py after changing icon.svg"


def test_qt_applies_the_style_sheet_without_a_warning(qapp, qtbot, qtlog):
    sheet = assets.style_sheet()
    good = re.search(r'QLabel\[verdict="good"\]\s*\{\s*color:\s*(#[0-9A-Fa-f]{6})', sheet)
    assert good, "the style sheet styles the verdict line"
    qapp.setStyleSheet(sheet)
    try:
        viewer = QWidget()
        viewer.setObjectName("viewer")
        qtbot.addWidget(viewer)
        label = QLabel("in sync", viewer)
        label.setProperty("verdict", "good")
        viewer.show()
        qapp.processEvents()
        assert label.palette().color(label.foregroundRole()).name() == good.group(1).lower()
        assert [record.message for record in qtlog.records] == []
    finally:
        qapp.setStyleSheet("")


def test_pyproject_ships_every_package_and_every_resource():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    packages = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "syncdesk").rglob("__init__.py")}
    assert set(config["packages"]) == packages | {"syncdesk.resources"}, "list new subpackages in pyproject.toml"

    folder = ROOT / config["package-dir"]["syncdesk.resources"]
    shipped = {path.relative_to(folder).as_posix()
               for pattern in config["package-data"]["syncdesk.resources"] for path in folder.glob(pattern)}
    installed = Path(str(files("syncdesk.resources")))
    loaded = {assets.icon_path(size).relative_to(installed).as_posix() for size in assets.ICON_SIZES}
    assert loaded | {"icon.svg", "style.qss"} <= shipped


def test_bundle_rules_leave_out_the_published_weights_and_cpu_builds_cuda_but_keep_what_the_app_needs():
    rules = load_packaging_module("bundle_rules")
    for model in MODELS.values():
        assert not rules.keep(model.filename) and not rules.keep(f"syncdesk/models/{model.filename}")
    for cuda in ("torch/lib/libcudnn.so.9", "nvidia/cublas/lib/libcublas.so.12", "torch/lib/libtorch_cuda.so"):
        assert not rules.keep(cuda) and rules.keep(cuda, cuda=True)  # a CUDA build of torch needs them
    assert not rules.keep("torch/bin/test_api")
    for needed in ("torch/lib/libtorch_cpu.so", "torch/bin/torch_shm_manager", "cv2/data/haarcascade_frontalface_default.xml",
                   "av.libs/libavcodec-1a2b3c.so.62", "syncdesk/resources/icons/syncdesk-16.png"):
        assert rules.keep(needed)


def test_bundle_check_reports_weights_inside_and_data_missing(tmp_path):
    rules = load_packaging_module("bundle_rules")
    internal = tmp_path / "_internal"
    for name in [*rules.REQUIRED, "syncdesk/syncnet_v2.model"]:
        path = internal / name.replace("*", "x")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    assert rules.problems(tmp_path) == ["unwanted: syncdesk/syncnet_v2.model"]
    (internal / "cv2/data/haarcascade_frontalface_default.xml").unlink()
    assert any(line.startswith("missing: OpenCV's Haar cascade") for line in rules.problems(tmp_path))


def run_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: Path, found: dict) -> dict:
    """Run syncdesk.spec with stand-ins for PyInstaller, ``package`` as where syncdesk is installed, CPU torch."""
    seen: dict[str, object] = {}

    class Analysis:
        def __init__(self, scripts, **options):
            seen.update(scripts=scripts, **options)
            self.datas, self.binaries, self.pure, self.scripts = found["datas"], found["binaries"], [], []

    def collect(*parts, **options):
        seen["collected"] = [entry for part in parts if isinstance(part, list) for entry in part]

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda package, **options: [(str(tmp_path / "icon.svg"), "syncdesk/resources")]
    hooks.collect_submodules = lambda package: [package, f"{package}.resources"]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    rules = load_packaging_module("bundle_rules")
    monkeypatch.setattr(rules, "installed_package_dir", lambda: package)
    monkeypatch.setattr(rules, "torch_is_cuda_build", lambda: False)
    monkeypatch.setitem(sys.modules, "bundle_rules", rules)
    monkeypatch.setattr(sys, "path", list(sys.path))

    spec = ROOT / "packaging" / "syncdesk.spec"
    exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"),  # noqa: S102 (as PyInstaller runs a spec)
         {"SPECPATH": str(spec.parent), "workpath": str(tmp_path), "Analysis": Analysis,
          "PYZ": lambda *a, **k: None, "EXE": lambda *a, **k: None, "COLLECT": collect})
    return seen


def test_the_spec_filters_everything_it_collects(tmp_path, monkeypatch):
    """Whatever the hooks find, weights and (with CPU torch) CUDA never reach COLLECT."""
    for name in ("icon.svg", "syncnet_v2.model", "libtorch_cpu.so", "libcudnn.so.9"):
        (tmp_path / name).write_bytes(b"x")
    found = {"datas": [("syncdesk/resources/icon.svg", str(tmp_path / "icon.svg"), "DATA"),
                       ("syncdesk/syncnet_v2.model", str(tmp_path / "syncnet_v2.model"), "DATA")],
             "binaries": [("torch/lib/libtorch_cpu.so", str(tmp_path / "libtorch_cpu.so"), "BINARY"),
                          ("nvidia/cudnn/lib/libcudnn.so.9", str(tmp_path / "libcudnn.so.9"), "BINARY")]}
    seen = run_spec(tmp_path, monkeypatch, tmp_path / "site-packages" / "syncdesk", found)

    assert {name for name, _, _ in seen["collected"]} == {"torch/lib/libtorch_cpu.so", "syncdesk/resources/icon.svg"}
    assert "syncdesk.resources" in seen["hiddenimports"] and "tkinter" in seen["excludes"]
    entry = Path(seen["scripts"][0])
    assert entry.read_bytes() == (ROOT / "main.py").read_bytes() and not (entry.parent / "syncdesk").exists()


def test_the_spec_refuses_an_editable_install(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="not `pip install -e .`"):
        run_spec(tmp_path, monkeypatch, ROOT / "syncdesk", {"datas": [], "binaries": []})
