"""``syncdesk`` command line: parse, validate, call the engine once, map errors to exit codes.

Exit codes (contract.md): 0 success, 1 a user-facing error (one or two lines on stderr, no
traceback), 2 bad usage (argparse's own code).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .. import __version__
from ..core.errors import Cancelled, SyncdeskError
from . import analyze, fix, gui, models


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncdesk",
        description="Find and fix audio-video (lip-sync) offsets in video files.",
    )
    parser.add_argument("--version", action="version", version=f"syncdesk {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    analyze.add_parser(commands)
    fix.add_parser(commands)
    models.add_parser(commands)
    gui.add_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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
