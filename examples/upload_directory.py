"""Upload every file of a directory under one label, skipping those already on the node.

    CIX_CLIENT_URL=http://127.0.0.1:8741 CIX_CLIENT_TOKEN=cix_… \\
        python examples/upload_directory.py reports/ 'SECRET//CPSP//REL TO CAN, KOR'

A file whose title (its name) is already listed is skipped, so the script can be run again
after an interruption. Prints one line per file: its id, marking and name.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cix.client import Client, NodeProblem


def main(directory: Path, label: str) -> int:
    with Client(os.environ["CIX_CLIENT_URL"], os.environ["CIX_CLIENT_TOKEN"]) as node:
        have = {doc.title for doc in node.documents.list()}
        failed = 0
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            if path.name in have:
                print(f"skipped  {path.name} (already on the node)")
                continue
            try:
                doc = node.documents.upload(path, label=label)
            except NodeProblem as problem:  # refused or rejected: say which rule, go on
                print(f"failed   {path.name}: {problem}", file=sys.stderr)
                failed += 1
                continue
            print(f"{doc.id}  {doc.banner}  {doc.title}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
