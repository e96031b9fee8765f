"""``syncdesk monitor SOURCE``: watch a stream's lip sync, one line per update (contract.md, "Live monitor")."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Optional

from ..core import SyncdeskError
from .analyze import add_analysis_options, add_tolerance_option, options_from
from .argtypes import number_between

#: seconds an alarm command may still run when the monitor stops, before it is left to itself
ALARM_COMMAND_WAIT_S = 5.0


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "monitor", help="watch the lip sync of a stream or file as it plays",
        description="Measure the lip sync of SOURCE over a rolling window and print one line per update. SOURCE: "
                    "a file, an http(s):// HLS playlist or stream, udp:// or rtp:// MPEG-TS, rtmp://, or a capture "
                    "device (v4l2:/dev/video0, avfoundation:0:0, dshow:video=NAME) where this build's FFmpeg has it. "
                    "Exit 0 at the end of a finite source or --duration, 130 on Ctrl-C, 1 when SOURCE cannot be opened.")
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("--window", type=number_between(float, 2.0, 60.0, "a number of seconds"), default=8.0,
                        metavar="S", help="the rolling window each update rests on (default 8)")
    parser.add_argument("--every", type=number_between(float, 0.5, 60.0, "a number of seconds"), default=2.0,
                        metavar="S", help="stream seconds between updates (default 2)")
    parser.add_argument("--jsonl", type=Path, metavar="OUT",
                        help="also write one JSON object per update: to OUT.part as it goes (tail -f it), renamed "
                             "to OUT when the monitor stops")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --jsonl file (refused otherwise)")
    add_tolerance_option(parser, "judge each update (ok / outside)")
    parser.add_argument("--alarm-after", type=number_between(float, 0.0, 86400.0, "a number of seconds"),
                        default=10.0, metavar="S",
                        help="with --tolerance: outside for longer than this raises an alarm (default 10)")
    parser.add_argument("--duration", type=number_between(float, 0.1, 1e7, "a number of seconds"), metavar="S",
                        help="stop after this many seconds of stream")
    parser.add_argument("--realtime", action="store_true", help="play a file at its own speed, as if it were live")
    parser.add_argument("--loop", action="store_true", help="play a file again and again on one clock")
    parser.add_argument("--quiet", action="store_true", help="no line per update on stdout (alarms still print)")
    add_analysis_options(parser)
    parser.add_argument("--on-alarm", nargs=argparse.REMAINDER, metavar="CMD ARG",
                        help="last option: run CMD ARG... at each alarm (no shell), the figures in its environment: "
                             "SYNCDESK_SOURCE, SYNCDESK_T_S, SYNCDESK_OFFSET_MS, SYNCDESK_CONFIDENCE, "
                             "SYNCDESK_OUTSIDE_S, SYNCDESK_TOLERANCE")
    parser.set_defaults(run=run, engine="syncdesk.core.monitor")


class _Jsonl:
    """The ``--jsonl`` file: lines flushed as they come to ``OUT.part``, renamed to ``OUT`` at the end."""

    def __init__(self, path: Path, overwrite: bool) -> None:
        if path.exists() and not overwrite:
            raise SyncdeskError(f"{path} exists: choose a new name for --jsonl, or add --overwrite")
        if path.is_dir():
            raise SyncdeskError(f"{path} is a folder: --jsonl needs a file name")
        self.path = path
        self.part = path.with_name(f".{path.name}.part")
        try:
            self._file: Optional[IO[str]] = open(self.part, "w", encoding="utf-8")
        except OSError as exc:
            raise SyncdeskError(f"cannot write {path}: {exc.strerror}") from None

    def write(self, data: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(data, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.part, self.path)


class _Alarms:
    """Runs ``--on-alarm`` with the figures in its environment; never waits for it, reaps it later."""

    def __init__(self, command: Optional[list[str]]) -> None:
        self.command = command or None
        self._children: list[subprocess.Popen[bytes]] = []
        if self.command and shutil.which(self.command[0]) is None:
            raise SyncdeskError(f"--on-alarm: no such command: {self.command[0]}")

    def fire(self, env: dict[str, str]) -> None:
        self._children = [child for child in self._children if child.poll() is None]
        if not self.command:
            return
        try:
            self._children.append(subprocess.Popen(self.command, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                                   stdout=sys.stderr.fileno()))
        except OSError as exc:
            print(f"syncdesk: warning: --on-alarm {self.command[0]} did not start: {exc.strerror}", file=sys.stderr)

    def close(self) -> None:
        for child in self._children:
            try:
                child.wait(timeout=ALARM_COMMAND_WAIT_S)
            except subprocess.TimeoutExpired:
                pass


def _usage(message: str) -> int:
    """Bad usage found after parsing: one line, exit 2, as argparse's own errors."""
    print(f"syncdesk monitor: error: {message} (see syncdesk monitor --help)", file=sys.stderr)
    return 2


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from ..core.monitor import Monitor, MonitorSettings, alarm_line, human_line, parse_source

    if args.on_alarm is not None and not args.on_alarm:
        return _usage("--on-alarm needs a command to run")
    if args.every > args.window:
        return _usage(f"--every ({args.every:g} s) must not be longer than --window ({args.window:g} s)")
    options = options_from(args)
    source = parse_source(args.source)
    settings = MonitorSettings(window_s=args.window, every_s=args.every, tolerance=args.tolerance,
                               alarm_after_s=args.alarm_after, duration_s=args.duration, realtime=args.realtime,
                               loop=args.loop)
    alarms = _Alarms(args.on_alarm)
    jsonl = _Jsonl(args.jsonl, args.overwrite) if args.jsonl else None

    def on_update(update: Any) -> None:
        if jsonl is not None:
            jsonl.write(update.to_json())
        if not args.quiet:
            print(human_line(update, settings.tolerance), flush=True)
        if update.alarm and settings.tolerance is not None:
            print(alarm_line(update, settings.tolerance, source.label), flush=True)
            alarms.fire({"SYNCDESK_SOURCE": source.label, "SYNCDESK_T_S": f"{update.t_s:.3f}",
                         "SYNCDESK_OFFSET_MS": f"{update.offset_ms:.2f}", "SYNCDESK_CONFIDENCE": f"{update.confidence:.3f}",
                         "SYNCDESK_OUTSIDE_S": f"{update.outside_s:.3f}", "SYNCDESK_TOLERANCE": settings.tolerance.label()})

    # Ctrl-C and a service manager's stop both end the monitor cleanly (the JSONL flushed and renamed);
    # set explicitly, since a process started in the background inherits SIGINT ignored
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        monitor = Monitor(source, options, settings, on_update)
        if not args.quiet:
            print(f"monitoring {source.label}: {settings.window_s:g} s window, an update every {settings.every_s:g} s"
                  + (f", judged against {settings.tolerance.label()}" if settings.tolerance else ""), flush=True)
        why = monitor.run()
        if not args.quiet:
            print(f"stopped: {'the source ended' if why == 'ended' else 'the --duration was reached'} "
                  f"after {monitor.updates} updates", flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if jsonl is not None:
            jsonl.close()
        alarms.close()
