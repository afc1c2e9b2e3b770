"""Tests of cix.node."""
