"""Tests of cix.api."""
