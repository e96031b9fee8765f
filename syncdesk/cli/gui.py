"""``syncdesk gui [VIDEO] [--screenshot PNG] [--tolerance T] [analysis options]``: the desktop app."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core import AnalysisOptions
from .analyze import add_analysis_options, add_tolerance_option, options_from


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("gui", help="open the desktop app",
                                 description="Open the desktop app, optionally with a video.")
    parser.add_argument("video", type=Path, nargs="?", metavar="VIDEO")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="wait for the analysis, save a picture of the window to PNG and exit")
    add_tolerance_option(parser, "for this session (else the app's last choice), judge the traffic light and "
                                 "the batch panel")
    add_analysis_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..gui.app import run as run_app  # Qt and torch load only for this command

    options = options_from(args)
    # analysis options given on the command line win for this session; else the saved settings
    given = options != AnalysisOptions()
    return run_app(args.video, options if given else None, args.screenshot, args.tolerance)
