"""``syncdesk cache info|clear|limit``: the analysis cache's folder, size and cap; emptying it; its cap."""

from __future__ import annotations

import argparse
from typing import Any

from ..core import MB, SyncdeskError, human_size
from .argtypes import number_between


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
    limit = actions.add_parser("limit", help="set the cache's size limit in MB",
                               description="Set the cache's size limit (shared by the app, analyze and "
                                           "batch); the least recently used analyses beyond it are deleted now.")
    limit.add_argument("megabytes", type=number_between(float, 0.0, 1e9, "a number of megabytes"), metavar="MB",
                       help="the new limit in MB (0 keeps nothing)")
    limit.set_defaults(run=run_limit)


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
    left = cache.clear()
    print(f"deleted {before.entries - left} cached analyses ({human_size(before.size - cache.info().size)}) "
          f"from {before.root}")
    if left:
        raise SyncdeskError(f"{left} cached analyses could not be deleted (check the folder's permissions)")
    return 0


def run_limit(args: argparse.Namespace) -> int:
    from ..core import AnalysisCache

    cache = AnalysisCache()
    before = cache.info()
    cache.set_max_bytes(round(args.megabytes * MB))
    after = cache.info()
    print(f"limit    {human_size(after.max_bytes)} (deleted {before.entries - after.entries} "
          "least recently used analyses)")
    return 0
