"""Tests of cix.store."""
