"""Classification labels: schemes, dominance, markings, STANAG 4774 XML. Pure: no I/O, no clock.

Build labels with `make_label`, `parse_label`, `label_from_json` or `from_4774_xml`: each
checks the label against its policy, found in the `registry` the caller passes (see
`cix.labels.policies`; this package imports no agreement and has no default registry).
"""

from cix.labels.build import (
    alternative_label,
    alternative_to_json,
    canonical_json,
    dominates,
    label_from_json,
    label_from_json_text,
    make_label,
)
from cix.labels.countries import is_country, nationality
from cix.labels.errors import (
    AmbiguousMarking,
    LabelError,
    LabelSyntaxError,
    OutOfScope,
    UnknownLevel,
    UnknownParty,
)
from cix.labels.label import (
    CAVEATS,
    GOVONLY,
    ORCON,
    AlternativeLabel,
    Label,
    format_time,
    parse_time,
)
from cix.labels.marking import WORDS, banner, parse_marking, portion_mark
from cix.labels.parse import parse_any, parse_label
from cix.labels.scheme import Level, Scheme, level_of
from cix.labels.stanag4774 import NAMESPACE, from_4774_xml, to_4774_xml
from cix.labels.visibility import visibility_expression

__all__ = [
    "CAVEATS",
    "GOVONLY",
    "NAMESPACE",
    "ORCON",
    "WORDS",
    "AlternativeLabel",
    "AmbiguousMarking",
    "Label",
    "LabelError",
    "LabelSyntaxError",
    "Level",
    "OutOfScope",
    "Scheme",
    "UnknownLevel",
    "UnknownParty",
    "alternative_label",
    "alternative_to_json",
    "banner",
    "canonical_json",
    "dominates",
    "format_time",
    "from_4774_xml",
    "is_country",
    "label_from_json",
    "label_from_json_text",
    "level_of",
    "make_label",
    "nationality",
    "parse_any",
    "parse_label",
    "parse_marking",
    "parse_time",
    "portion_mark",
    "to_4774_xml",
    "visibility_expression",
]
