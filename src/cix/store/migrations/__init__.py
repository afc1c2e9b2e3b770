"""Alembic migrations of the node database, shipped inside the package."""
