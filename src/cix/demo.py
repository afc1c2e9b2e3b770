"""`make demo`: run the most complete part of cix built so far.

Until the node exists this shows the command line; it grows with each capability.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    """Show what the `cix` command offers today."""
    return subprocess.call([sys.executable, "-m", "cix.cli.main", "--help"])


if __name__ == "__main__":
    sys.exit(main())
