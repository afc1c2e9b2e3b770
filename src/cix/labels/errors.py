"""Errors of the label and agreement cores: every one is an `InputError` naming the problem."""

from __future__ import annotations

from cix.errors import InputError


class LabelError(InputError):
    """A label, marking or level is malformed or names something unknown."""


class LabelSyntaxError(LabelError):
    """A banner, portion mark, JSON or XML form of a label does not parse."""


class UnknownLevel(LabelError):
    """A classification names no level of the scheme it is read against."""


class UnknownParty(LabelError):
    """A party code is not a party to the agreement or policy in question."""


class OutOfScope(LabelError):
    """A level is outside the agreement (not shared) or has no equivalent in another scheme."""


class AmbiguousMarking(LabelError):
    """A marking matches levels of more than one party; the originator must be named."""
