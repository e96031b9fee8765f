"""Argument types the commands share: a number within bounds, with argparse's usage error otherwise."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from ..core import Tolerance

Number = TypeVar("Number", int, float)


def number_between(cast: Callable[[str], Number], low: Number, high: Number, what: str) -> Callable[[str], Number]:
    """An argparse ``type``: ``cast(text)`` if it lies in ``low..high``, else exit 2 saying why."""

    def parse(text: str) -> Number:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {_plain(low)} and {_plain(high)}: {text!r}")
        return value

    return parse


def _plain(value: float) -> str:
    """A bound as people write it: ``1000000``, not ``1e+06``."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def tolerance(text: str) -> "Tolerance":
    """An argparse ``type`` for ``--tolerance``: a standard's name or ``LEAD/LAG`` in ms."""
    from ..core import parse_tolerance

    try:
        return parse_tolerance(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
