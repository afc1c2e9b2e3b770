"""One entry point for every textual form of a label: banner, portion mark, JSON or 4774 XML."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cix.labels.build import label_from_json_text
from cix.labels.errors import LabelError, LabelSyntaxError
from cix.labels.label import AlternativeLabel, Label
from cix.labels.marking import parse_marking
from cix.labels.stanag4774 import from_4774_xml

if TYPE_CHECKING:
    from cix.labels.policies import LabelPolicy, PolicyRegistry


def parse_any(
    text: str,
    *,
    registry: PolicyRegistry,
    agreement: LabelPolicy | None = None,
    created: datetime | None = None,
    purpose: str | None = None,
) -> Label | AlternativeLabel:
    """Parse a label from a JSON object (`{…}`), 4774 XML (`<…`) or a banner/portion mark.

    JSON and XML carry their own policy; if `agreement` is given it must be that policy.
    A banner carries no creation time or purpose: `created` must be given for one.
    """
    if not isinstance(text, str):
        raise LabelSyntaxError(f"label: expected text, got {type(text).__name__}")
    reg = registry
    body = text.strip()
    result: Label | AlternativeLabel
    if body.startswith("{"):
        result = label_from_json_text(body, reg)
    elif body.startswith("<"):
        result = from_4774_xml(body, reg)
    else:
        if created is None:
            raise LabelError("a banner carries no creation time: give one (created)")
        return parse_marking(
            body, created=created, agreement=agreement, registry=reg, purpose=purpose
        )
    policy = result.label.policy if isinstance(result, AlternativeLabel) else result.policy
    if agreement is not None and policy != agreement.id:
        raise LabelError(f"the label is under {policy!r}, not under {agreement.id!r}")
    return result


def parse_label(
    text: str,
    agreement: LabelPolicy | None = None,
    *,
    registry: PolicyRegistry,
    created: datetime | None = None,
    purpose: str | None = None,
) -> Label:
    """The originator's label from any textual form (an alternative marking maps back to it)."""
    result = parse_any(
        text, agreement=agreement, registry=registry, created=created, purpose=purpose
    )
    return result.label if isinstance(result, AlternativeLabel) else result
