"""Run syncdesk from a checkout: ``python main.py`` opens the desktop app (``python main.py VIDEO``
opens it with a video); ``python main.py analyze clip.avi`` and the other commands work as
``syncdesk ...`` does."""

import multiprocessing
import sys

from syncdesk.cli import main

COMMANDS = ("analyze", "fix", "batch", "models", "gui", "-h", "--help", "--version")

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen bundle's worker processes start here too
    args = sys.argv[1:]
    if not args or args[0] not in COMMANDS:
        args = ["gui", *args]
    sys.argv[1:] = args
    sys.exit(main())  # no argv: the program's own run (main() then skips the collector at exit)
