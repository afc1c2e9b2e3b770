"""Application services of a national node."""
