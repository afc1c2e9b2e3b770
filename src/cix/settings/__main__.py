"""`python -m cix.settings`: print docs/settings.md."""

import sys

from cix.settings.docs import render_markdown

sys.stdout.write(render_markdown())
