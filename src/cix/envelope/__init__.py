"""Sealed objects: the OpenTDF-compatible streaming container. Pure: streams in, streams out."""
