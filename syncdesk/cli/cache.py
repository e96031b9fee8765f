"""``syncdesk cache info|clear``: the analysis cache's folder, size and cap, and emptying it."""

from __future__ import annotations

import argparse
from typing import Any

from .models import human_size


def add_parser(subparsers: Any) -> None:
    """Register ``cache`` and its actions on the top-level subparsers."""
    parser = subparsers.add_parser(
        "cache", help="show or clear the analysis cache",
        description="The analysis cache keeps each analysis so that reopening a file shows it at "
                    "once. Beyond its size limit the least recently used analyses are deleted.")
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="show the cache's folder, entries, size and limit",
                              description="Show the cache's folder, entries, size and size limit.")
    info.set_defaults(run=run_info)
    clear = actions.add_parser("clear", help="delete every cached analysis",
                               description="Delete every cached analysis (nothing else in the folder; "
                                           "the size limit is kept).")
    clear.set_defaults(run=run_clear)


def run_info(args: argparse.Namespace) -> int:
    from ..core import AnalysisCache

    info = AnalysisCache().info()
    print(f"folder   {info.root}")
    print(f"entries  {info.entries}")
    print(f"size     {human_size(info.size)}")
    print(f"limit    {human_size(info.max_bytes)}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from ..core import AnalysisCache

    cache = AnalysisCache()
    before = cache.info()
    cache.clear()
    print(f"deleted {before.entries} cached analyses ({human_size(before.size)}) from {before.root}")
    return 0
