"""Server-rendered pages of a node (Jinja2 + htmx)."""
