"""Bilateral security agreements: loading, validation, equivalence, bundled files. Pure."""
