"""``python -m equalnets``: the book's command line (:mod:`equalnets.tools.cli`)."""

import sys

from .tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
