"""What the PyInstaller bundle leaves out and must hold; used by ``syncdesk.spec`` and ``build_linux.sh``.

The bundle must stay free of the published model weights (downloaded on first run into the user
data folder) and, when built against CPU torch, of CUDA; the rest is size: files torch's hook
collects that no user of the app ever runs. Plain functions, so the tests can check them.
"""

from __future__ import annotations

import importlib.util
import sys
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

#: Python modules the app never imports but hooks or optional imports would pull in
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "turtle", "idlelib",   # no Tk anywhere; the app is Qt
    "pytest", "IPython", "matplotlib",            # test and notebook tooling
    "torch.utils.tensorboard", "tensorboard",     # training-time logging
    # large Qt modules a widgets app does not use, should some wheel bring them
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebEngineQuick", "PySide6.QtPdf",
    "PySide6.QtQuick", "PySide6.QtQuick3D", "PySide6.QtQml", "PySide6.QtDesigner", "PySide6.QtHelp",
]

#: model weights in any of the formats the engine or torch could load
WEIGHTS = ["*.model", "*.pth", "*.pt", "*.ptl", "*.ckpt", "*.safetensors", "*.onnx"]

#: CUDA runtime libraries, whether bundled in torch/lib or from the nvidia-* wheels
CUDA = ["libcuda*", "libcudart*", "libcudnn*", "libcublas*", "libcufft*", "libcurand*", "libcusolver*",
        "libcusparse*", "libcupti*", "libnccl*", "libnvrtc*", "libnvJitLink*", "libnvToolsExt*",
        "libtorch_cuda*", "libc10_cuda*", "libcaffe2_nvrtc*"]

#: test programs and test data torch ships; C++ headers and build files nothing compiles against here
TORCH_DEV = ["torch/test/*", "torch/bin/*", "torch/include/*", "torch/share/*", "torch/lib/*.a",
             "torch/lib/libjitbackend_test.so", "torch/lib/libtorchbind_test.so",
             "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so"]
#: ... but ``import torch`` fails without this one
TORCH_NEEDED = {"torch/bin/torch_shm_manager"}


def installed_package_dir() -> Path | None:
    """Where ``import syncdesk`` finds the package in this environment (None: not installed)."""
    spec = importlib.util.find_spec("syncdesk")
    return Path(spec.origin).parent if spec and spec.origin else None


def torch_is_cuda_build() -> bool:
    """Whether the installed torch is a CUDA build, whose CUDA libraries then belong in the bundle."""
    import torch.version

    return torch.version.cuda is not None


def keep(dest_name: str, cuda: bool = False) -> bool:
    """Whether a file at ``dest_name`` (its path inside the bundle) belongs in a CPU (or ``cuda``) bundle."""
    path = PurePosixPath(dest_name.replace("\\", "/"))
    if any(fnmatch(path.name, pattern) for pattern in WEIGHTS):
        return False
    # the nvidia-* wheels are CUDA's libraries; triton compiles GPU kernels
    gpu_only = any(fnmatch(path.name, pattern) for pattern in CUDA) or path.parts[0] in ("nvidia", "triton")
    if gpu_only and not cuda:
        return False
    return str(path) in TORCH_NEEDED or not any(fnmatch(str(path), pattern) for pattern in TORCH_DEV)


#: what a Linux bundle must hold (globs inside its ``_internal`` folder), and why
REQUIRED = {
    "torch/bin/torch_shm_manager": "torch's shared-memory helper (torch looks for it on import)",
    "cv2/data/haarcascade_frontalface_default.xml": "OpenCV's Haar cascade (the bundled face detector)",
    "av.libs/libavcodec*.so*": "PyAV's FFmpeg libraries",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so": "Qt's offscreen platform (screenshots, CI)",
    "PySide6/Qt/plugins/platforms/libqxcb.so": "Qt's X11 platform",
    "pyqtgraph/icons/*": "pyqtgraph (its data files)",
    "syncdesk/resources/icons/syncdesk-512.png": "our icons",
    "syncdesk/resources/style.qss": "our style sheet",
}


def problems(bundle: Path, cuda: bool = False) -> list[str]:
    """What is wrong with a built one-folder bundle: files that must not be there, files that are missing."""
    internal = bundle / "_internal"
    found = [f"unwanted: {path.relative_to(internal)}" for path in sorted(internal.rglob("*"))
             if path.is_file() and not keep(path.relative_to(internal).as_posix(), cuda)]
    found += [f"missing: {what} ({pattern})" for pattern, what in REQUIRED.items() if not any(internal.glob(pattern))]
    return found


if __name__ == "__main__":
    with_cuda = torch_is_cuda_build()
    report = problems(Path(sys.argv[1]), with_cuda)
    print("\n".join(report) or f"bundle contents: ok ({'CUDA' if with_cuda else 'CPU'} torch)")
    sys.exit(1 if report else 0)
