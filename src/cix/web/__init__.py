"""Server-rendered pages of a node (Jinja2 + htmx), mounted by the node's app at `/ui`.

`create_web_app(node)` (in `cix.web.app`) builds them; see docs/web.md.
"""
