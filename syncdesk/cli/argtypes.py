"""Argument types the commands share: a number within bounds, with argparse's usage error otherwise."""

from __future__ import annotations

import argparse
from typing import Callable, TypeVar

Number = TypeVar("Number", int, float)


def number_between(cast: Callable[[str], Number], low: Number, high: Number, what: str) -> Callable[[str], Number]:
    """An argparse ``type``: ``cast(text)`` if it lies in ``low..high``, else exit 2 saying why."""

    def parse(text: str) -> Number:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}: {text!r}")
        return value

    return parse
