"""``syncdesk`` command line: parse, validate, call the engine once, map errors to exit codes.

Exit codes (contract.md): 0 success, 1 a user-facing error (one or two lines on stderr, no
traceback), 2 bad usage (argparse's own code).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from typing import NoReturn, Optional, Sequence

from .. import __version__
from ..core import Cancelled, SyncdeskError
from . import analyze, batch, cache, fix, gui, models, monitor, serve


#: commands whose process runs an analysis: they get the malloc settings that keep memory flat
ANALYSING_COMMANDS = ("analyze", "fix", "monitor")

def version_text() -> str:
    """syncdesk's version, torch's, and the device an analysis would use (``--device auto``)."""
    import torch  # only when asked: --help and the parser stay fast

    from ..core import device_name, dtype_name, resolve_device, resolve_precision

    device = resolve_device("auto")
    detail = "no CUDA GPU or Apple MPS found" if device.type == "cpu" else device_name(device)
    arithmetic = dtype_name(resolve_precision("auto", device))
    return (f"syncdesk {__version__}\ntorch {torch.__version__}\ndevice: {device.type} ({detail})\n"
            f"fast mode computes in: {arithmetic}")


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version, torch's version and the device that would be used, then exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(version_text())
        parser.exit()


class Parser(argparse.ArgumentParser):
    """argparse saying bad usage in one line (exit 2) with a pointer to ``--help``, instead of the
    usage block: the reason is what a user or a script's log needs. Subcommands inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    serve.add_parser(commands)
    monitor.add_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command. ``argv`` None means the program's own arguments (the console script,
    ``python -m syncdesk``); tests pass ``argv`` and keep their process as it was."""
    args = build_parser().parse_args(argv)
    return _run(args, program=argv is None)


def _import_frozen(module: str) -> None:
    """Import a command's engine (``set_defaults(engine=...)``) before it runs, with the collector
    paused, then freeze what it loaded: torch's import would otherwise run full collections over its
    own objects, and every later full collection of the run would walk them again (the README's
    performance section has the measured saving)."""
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
