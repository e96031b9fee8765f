"""``syncdesk`` command line: parse, validate, call the engine once, map errors to exit codes.

Exit codes (contract.md): 0 success, 1 a user-facing error (one or two lines on stderr, no
traceback), 2 bad usage (argparse's own code).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
import threading
from typing import NoReturn, Optional, Sequence

from .. import __version__
from ..core import Cancelled, SyncdeskError
from . import analyze, batch, cache, fix, gui, models


#: commands whose process runs an analysis: they get the malloc settings that keep memory flat
ANALYSING_COMMANDS = ("analyze", "fix")

def version_text() -> str:
    """syncdesk's version, torch's, and the device an analysis would use (``--device auto``)."""
    import torch  # only when asked: --help and the parser stay fast

    from ..core import device_name, dtype_name, resolve_device, resolve_precision

    device = resolve_device("auto")
    where = device_name(device) + (" (no CUDA GPU or Apple MPS found)" if device.type == "cpu" else "")
    arithmetic = dtype_name(resolve_precision("auto", device))
    return f"syncdesk {__version__}\ntorch {torch.__version__}\ndevice: {device.type}, {where}\nfast mode computes in: {arithmetic}"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version, torch's version and the device that would be used, then exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncdesk",
        description="Find and fix audio-video (lip-sync) offsets in video files.",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    analyze.add_parser(commands)
    fix.add_parser(commands)
    batch.add_parser(commands)
    models.add_parser(commands)
    cache.add_parser(commands)
    gui.add_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command. ``argv`` None means the program's own arguments (the console script,
    ``python -m syncdesk``): the process ends after this command, so the collector may skip every
    object alive by then (tests pass ``argv`` and keep their collector as it was)."""
    program = argv is None
    try:
        args = build_parser().parse_args(argv)
        code = _run(args, program)
    finally:
        if program:
            # the interpreter's exit would collect every object still alive (torch's: ~190k) only
            # to free nothing; it skips frozen ones, which cuts the exit from ~0.2 s to ~0.08 s
            gc.freeze()
    if program and getattr(args, "engine", None):
        _end_process(code)
    return code


def _end_process(code: int) -> NoReturn:
    """End the program at once after an engine command: flush, run the ``atexit`` handlers, and
    skip the interpreter's teardown of torch's modules and C++ state (~0.07 s that frees nothing
    the OS does not). Its files are closed by then; a Python thread still running (none should
    be) gets the normal exit instead, which waits for it."""
    main_thread = threading.main_thread()
    if any(not thread.daemon for thread in threading.enumerate() if thread is not main_thread):
        sys.exit(code)
    atexit._run_exitfuncs()  # a failing handler's error is printed there, never raised
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None when the program started with it closed (pythonw, `>&-`)
                stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


def _import_frozen(module: str) -> None:
    """Import a command's engine (``set_defaults(engine=...)``) before it runs, with the collector
    paused, then freeze it: torch's import would run three full collections (~70 ms) for a few
    thousand objects of garbage, which now stay until the exit."""
    gc.disable()
    try:
        importlib.import_module(module)
    finally:
        gc.enable()
    gc.freeze()


def _run(args: argparse.Namespace, program: bool) -> int:
    try:
        if program and args.command in ANALYSING_COMMANDS:
            from ..core.memory import tune_malloc  # here, not at import: the other commands skip its cost

            tune_malloc()  # before torch's threads and our reader thread first allocate
        if program and getattr(args, "engine", None):
            _import_frozen(args.engine)
        return int(args.run(args) or 0)
    except Cancelled:
        print("syncdesk: cancelled", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `syncdesk analyze clip.avi | head -1`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("syncdesk: interrupted", file=sys.stderr)
        return 130
    except SyncdeskError as exc:
        print(f"syncdesk: error: {exc}", file=sys.stderr)
        return 1
