"""``syncdesk models list|download|verify|path``: manage the model weights in the data dir."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from ..core import DATA_DIR_ENV, MODELS, WeightsError, download_model, human_size, model_path, models_dir, verify_model
from .progress import ByteBar


def add_parser(subparsers: Any) -> None:
    """Register ``models`` and its actions on the top-level subparsers."""
    parser = subparsers.add_parser(
        "models", help="list, download and verify the model weights",
        description="Manage the model weights (SyncNet, S3FD) kept in syncdesk's data directory "
                    f"({DATA_DIR_ENV} overrides its location).")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    _add_list(actions)
    _add_download(actions)
    _add_verify(actions)
    _add_path(actions)


def _model_name(value: str) -> str:
    """argparse ``type``: a known model name (``choices`` breaks with ``nargs="*"``)."""
    if value not in MODELS:
        raise argparse.ArgumentTypeError(
            f"unknown model {value!r} (choose from {', '.join(sorted(MODELS))})")
    return value


def _names_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", type=_model_name,
                        help=f"{what} ({', '.join(sorted(MODELS))}; default: all)")


def _add_list(actions: Any) -> None:
    parser = actions.add_parser(
        "list", help="show each model's file, status, size and path",
        description="Show each model's file, status, size and path. The status is 'ok', "
                    "'missing', 'mismatch' (not the published file) or 'unverified' (never "
                    "hashed; use --check or `syncdesk models verify`).")
    parser.add_argument("--check", action="store_true",
                        help="hash the files now instead of reusing the last result")
    parser.set_defaults(run=run_list)


def _add_download(actions: Any) -> None:
    parser = actions.add_parser(
        "download", help="download (or resume) the weights and check their SHA-256",
        description="Download the weights into the data directory. An interrupted download "
                    "resumes; a file is moved into place only when its SHA-256 matches. "
                    "With no NAME, SyncNet is fetched first, then the S3FD face detector (for small "
                    "and turned faces; `--detector auto` uses it once it is there). Exit status: 0 "
                    "when every model asked for is ready; with no NAME, also 0 when SyncNet is ready "
                    "but S3FD could not be fetched (a warning says so: analyses then use the bundled "
                    "detector); 1 when a named model, or SyncNet, could not be fetched.")
    _names_arg(parser, "models to download")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="network timeout per request (default: %(default)s)")
    parser.set_defaults(run=run_download)


def _add_verify(actions: Any) -> None:
    parser = actions.add_parser(
        "verify", help="hash the downloaded files and compare with the published SHA-256",
        description="Hash the downloaded files and compare them with the published SHA-256. "
                    "Exits with 1 when a file is missing or does not match.")
    _names_arg(parser, "models to verify")
    parser.set_defaults(run=run_verify)


def _add_path(actions: Any) -> None:
    parser = actions.add_parser(
        "path", help="print the models directory, or one model's file path",
        description="Print the models directory, or the path where NAME's file is kept.")
    parser.add_argument("name", nargs="?", metavar="NAME", type=_model_name,
                        help=f"a model ({', '.join(sorted(MODELS))})")
    parser.set_defaults(run=run_path)


# --------------------------------------------------------------------------- actions


def run_list(args: argparse.Namespace) -> int:
    rows = [("NAME", "FILE", "STATUS", "SIZE", "PATH")]
    for name, spec in MODELS.items():
        result = verify_model(name, quick=not args.check)
        size = human_size(result.size) if result.size is not None else "-"
        rows.append((name, spec.filename, result.status, size, str(result.path)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths)]
        print("  ".join([*cells, row[4]]))
    return 0


def run_download(args: argparse.Namespace) -> int:
    names = _selected(args.names)
    #: with no NAME only SyncNet is needed to analyse; S3FD (better faces) may fail with a warning
    optional = set() if args.names else set(names) - {"syncnet"}
    for name in names:
        if verify_model(name).status == "ok":
            print(f"{name}: already downloaded and verified: {model_path(name)}")
            continue
        try:
            with ByteBar(name, quiet=args.quiet) as bar:
                path = download_model(name, progress=bar, timeout=args.timeout)
        except WeightsError as exc:
            if name not in optional:
                raise
            _optional_failed(name, exc)
            continue
        print(f"{name}: downloaded and verified: {path}")
    return 0


def _optional_failed(name: str, exc: WeightsError) -> None:
    """Two lines on stderr: why ``name`` (S3FD) is missing; that SyncNet is ready and what to run later."""
    print(f"syncdesk: warning: {name} was not downloaded: {exc}", file=sys.stderr)
    print(f"syncdesk: warning: SyncNet is ready and analyses work, with the bundled face detector; "
          f"run `syncdesk models download {name}` later for the {MODELS[name].description} "
          "(it finds small and turned faces)", file=sys.stderr)


def run_verify(args: argparse.Namespace) -> int:
    bad = []
    for name in _selected(args.names):
        result = verify_model(name)
        print(f"{name}: {result.status}  {result.path}")
        if result.status != "ok":
            bad.append(name)
    if bad:
        names = " ".join(bad)
        raise WeightsError(f"{', '.join(bad)}: missing or not the published file; "
                           f"run `syncdesk models download {names}` to fetch a fresh copy")
    return 0


def run_path(args: argparse.Namespace) -> int:
    print(model_path(args.name) if args.name else models_dir())
    return 0


def _selected(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names)) if names else list(MODELS)


# --------------------------------------------------------------------------- output
