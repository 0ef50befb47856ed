"""``python -m riskcore``: the command-line interface."""

import sys

from riskcore.cli import main

if __name__ == "__main__":
    sys.exit(main())
