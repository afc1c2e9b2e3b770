"""Database schema, migrations, repositories and the blob store of a node."""
