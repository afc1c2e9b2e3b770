"""What a programme's members may read: the documents of programme P you can see, by level.

    CIX_CLIENT_URL=… CIX_CLIENT_TOKEN=… python examples/programme_reading_list.py CPSP

The node filters in SQL (programme, and any of classification, originator, dates, words)
and never lists what the caller may not read, so run it as a programme member to see the
programme as they do. Prints a count per marking, then the documents, newest first.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

from cix.client import Client


def main(programme: str) -> int:
    with Client(os.environ["CIX_CLIENT_URL"], os.environ["CIX_CLIENT_TOKEN"]) as node:
        docs = list(node.documents.list(programme=programme))
    for marking, count in Counter(d.banner for d in docs).most_common():
        print(f"{count:6}  {marking}")
    for doc in docs:
        print(f"{doc.id}  {doc.created_at:%Y-%m-%d}  {doc.banner}  {doc.title}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
