"""``python -m geyser``: the command line (``geyser.cli``; ``python -m geyser --help``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
