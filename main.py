"""Run syncdesk from a checkout: ``python main.py analyze clip.avi`` (same as ``syncdesk ...``).

The desktop app will open here once it exists (issue: the desktop app); until then this is the CLI.
"""

import sys

from syncdesk.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["--help"]))
