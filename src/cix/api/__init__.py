"""The REST API of a node (FastAPI)."""
