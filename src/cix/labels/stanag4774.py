"""STANAG 4774 confidentiality labels in XML: written with ElementTree, read with defusedxml.

The originator's label is an `originatorConfidentialityLabel`; the receiving party's
equivalent marking an `alternativeConfidentialityLabel` whose `PolicyIdentifier` URI names
the scheme it is written in. Reading is strict: DTDs and entities are refused (XXE, entity
expansion), as are unknown elements, categories and attributes, so that what is read is
exactly what `to_4774_xml` writes for some label.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from cix.labels.build import make_label
from cix.labels.errors import LabelSyntaxError
from cix.labels.label import AlternativeLabel, Label, format_time, parse_time
from cix.labels.scheme import PARTY_PATTERN

if TYPE_CHECKING:
    from cix.labels.policies import PolicyRegistry

NAMESPACE = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
ORIGINATOR_ROOT = "originatorConfidentialityLabel"
ALTERNATIVE_ROOT = "alternativeConfidentialityLabel"
POLICY_URI_PREFIX = "urn:cix:policy:"
ORIGINATOR_ID_TYPE = "ISO3166-1-alpha-3"
MAX_XML_BYTES = 64 * 1024

# (TagName, Type, Label attribute): the categories cix writes, in this order.
_CATEGORIES = (
    ("Releasable To", "PERMISSIVE", "releasable_to"),
    ("Need-to-know Programme", "RESTRICTIVE", "programmes"),
    ("Handling Caveat", "RESTRICTIVE", "caveats"),
    ("Purpose", "INFORMATIVE", "purpose"),
)


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def to_4774_xml(label: Label | AlternativeLabel, registry: PolicyRegistry) -> bytes:
    """The STANAG 4774 XML of a label (UTF-8, with declaration); one byte string per label.

    The classification is written as the level's national name in its scheme's language.
    """
    reg = registry
    if isinstance(label, AlternativeLabel):
        original, party, code = label.label, label.party, label.classification
        root_tag, uri = ALTERNATIVE_ROOT, f"{POLICY_URI_PREFIX}{label.label.policy}:scheme:{party}"
    else:
        original, party, code = label, label.originator, label.classification
        root_tag, uri = ORIGINATOR_ROOT, f"{POLICY_URI_PREFIX}{label.policy}"
    agreement = reg.check_label(original)
    scheme = agreement.scheme(party)
    if isinstance(label, AlternativeLabel):
        expected = agreement.equivalent(original.originator, original.classification, party)
        if expected != code:
            raise LabelSyntaxError(
                f"alternative label: {party} {code} is not the equivalent of"
                f" {original.originator} {original.classification} ({party} {expected})"
            )
    root = ET.Element(root_tag, {"xmlns": NAMESPACE})
    info = ET.SubElement(root, "ConfidentialityInformation")
    ET.SubElement(info, "PolicyIdentifier", {"URI": uri}).text = original.policy
    ET.SubElement(info, "Classification").text = scheme.level(code).name(
        scheme.language, scheme.language
    )
    for tag_name, kind, attribute in _CATEGORIES:
        value = getattr(original, attribute)
        values = sorted(value) if isinstance(value, frozenset) else [] if value is None else [value]
        if not values:
            continue
        category = ET.SubElement(info, "Category", {"TagName": tag_name, "Type": kind})
        for item in values:
            ET.SubElement(category, "GenericValue").text = item
    ET.SubElement(root, "OriginatorID", {"IDType": ORIGINATOR_ID_TYPE}).text = original.originator
    ET.SubElement(root, "CreationDateTime").text = format_time(original.created)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _only(element: ET.Element, allowed: set[str], where: str) -> None:
    for key in element.attrib:
        if key not in allowed:
            raise LabelSyntaxError(f"XML label: {where}: unexpected attribute {key!r}")
    if element.tail is not None and element.tail.strip():
        raise LabelSyntaxError(f"XML label: text after {where}")


def _text(element: ET.Element, where: str) -> str:
    if len(element):
        raise LabelSyntaxError(f"XML label: {where} must hold text, not elements")
    text = (element.text or "").strip()
    if not text:
        raise LabelSyntaxError(f"XML label: {where} is empty")
    return text


def _children(element: ET.Element, where: str) -> list[ET.Element]:
    if element.text is not None and element.text.strip():
        raise LabelSyntaxError(f"XML label: {where} holds stray text")
    children = list(element)
    for child in children:
        if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{NAMESPACE}}}"):
            raise LabelSyntaxError(f"XML label: {where}: element {child.tag!r} is not 4774")
    return children


def _local(element: ET.Element) -> str:
    return str(element.tag).rsplit("}", 1)[-1]


def from_4774_xml(data: bytes | str, registry: PolicyRegistry) -> Label | AlternativeLabel:
    """Read a label written by `to_4774_xml`, checked against its policy.

    Malformed XML, DTDs, entities (XXE, billion laughs), foreign elements, unknown
    categories and missing required elements are refused with a `LabelSyntaxError`
    naming the problem.
    """
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except (UnicodeEncodeError, TypeError) as exc:
        raise LabelSyntaxError(f"XML label: not text: {exc}") from None
    if len(raw) > MAX_XML_BYTES:
        raise LabelSyntaxError(f"XML label: larger than {MAX_XML_BYTES} bytes")
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise LabelSyntaxError(
            f"XML label: refused {type(exc).__name__} (DTDs and entities are not allowed)"
        ) from None
    except ET.ParseError as exc:
        raise LabelSyntaxError(f"XML label: not well-formed XML: {exc}") from None
    except LookupError as exc:  # an XML declaration naming an unknown encoding
        raise LabelSyntaxError(f"XML label: {exc}") from None
    root_name = _local(root)
    if root.tag not in (_q(ORIGINATOR_ROOT), _q(ALTERNATIVE_ROOT)):
        raise LabelSyntaxError(
            f"XML label: root element {root.tag!r} is not a 4774 originator or alternative"
            f" confidentiality label in namespace {NAMESPACE}"
        )
    _only(root, set(), root_name)
    found: dict[str, ET.Element] = {}
    for child in _children(root, root_name):
        name = _local(child)
        if name not in ("ConfidentialityInformation", "OriginatorID", "CreationDateTime"):
            raise LabelSyntaxError(f"XML label: {root_name}: unsupported element {name!r}")
        if name in found:
            raise LabelSyntaxError(f"XML label: {root_name}: {name} appears twice")
        found[name] = child
    for needed in ("ConfidentialityInformation", "OriginatorID", "CreationDateTime"):
        if needed not in found:
            raise LabelSyntaxError(f"XML label: {root_name}: missing {needed}")
    _only(found["OriginatorID"], {"IDType"}, "OriginatorID")
    id_type = found["OriginatorID"].get("IDType", ORIGINATOR_ID_TYPE)
    if id_type != ORIGINATOR_ID_TYPE:
        raise LabelSyntaxError(f"XML label: OriginatorID IDType {id_type!r} is not supported")
    originator = _text(found["OriginatorID"], "OriginatorID")
    _only(found["CreationDateTime"], set(), "CreationDateTime")
    created = parse_time(_text(found["CreationDateTime"], "CreationDateTime"), "CreationDateTime")
    info = found["ConfidentialityInformation"]
    _only(info, set(), "ConfidentialityInformation")
    policy_id: str | None = None
    uri: str | None = None
    classification: str | None = None
    values: dict[str, list[str]] = {}
    for child in _children(info, "ConfidentialityInformation"):
        name = _local(child)
        if name == "PolicyIdentifier" and policy_id is None:
            _only(child, {"URI"}, name)
            policy_id, uri = _text(child, name), child.get("URI")
        elif name == "Classification" and classification is None:
            _only(child, set(), name)
            classification = _text(child, name)
        elif name == "Category":
            tag_name = _category(child, values)
            values[tag_name] = [_text(v, f"Category {tag_name!r} GenericValue") for v in child]
        elif name in ("PolicyIdentifier", "Classification"):
            raise LabelSyntaxError(f"XML label: {name} appears twice")
        else:
            raise LabelSyntaxError(f"XML label: unsupported element {name!r}")
    if policy_id is None or classification is None:
        missing = "PolicyIdentifier" if policy_id is None else "Classification"
        raise LabelSyntaxError(f"XML label: ConfidentialityInformation: missing {missing}")
    reg = registry
    agreement = reg.get(policy_id)
    party = originator
    if root.tag == _q(ALTERNATIVE_ROOT):
        prefix = f"{POLICY_URI_PREFIX}{policy_id}:scheme:"
        party = (uri or "").removeprefix(prefix)
        if not (uri or "").startswith(prefix) or not PARTY_PATTERN.fullmatch(party):
            raise LabelSyntaxError(
                f"XML label: an alternative label's PolicyIdentifier URI must be {prefix}PARTY"
            )
    elif uri != f"{POLICY_URI_PREFIX}{policy_id}":
        raise LabelSyntaxError(
            f"XML label: PolicyIdentifier URI must be {POLICY_URI_PREFIX}{policy_id}, got {uri!r}"
        )
    marked = agreement.scheme(party).resolve(classification)
    code = marked.code
    if party != originator:
        agreement.scheme(originator)
        code = agreement.equivalent(party, marked.code, originator)
    purposes = values.get("Purpose", [])
    if len(purposes) > 1:
        raise LabelSyntaxError("XML label: more than one Purpose")
    label = make_label(
        agreement,
        originator=originator,
        classification=code,
        releasable_to=_unique(values.get("Releasable To", []), "Releasable To"),
        programmes=_unique(values.get("Need-to-know Programme", []), "Need-to-know Programme"),
        caveats=_unique(values.get("Handling Caveat", []), "Handling Caveat"),
        purpose=purposes[0] if purposes else None,
        created=created,
        registry=reg,
    )
    if party != originator:
        return AlternativeLabel(label=label, party=party, classification=marked.code)
    return label


def _category(element: ET.Element, seen: dict[str, list[str]]) -> str:
    _only(element, {"TagName", "Type"}, "Category")
    tag_name, kind = element.get("TagName"), element.get("Type")
    expected = {name: k for name, k, _ in _CATEGORIES}
    if tag_name not in expected:
        raise LabelSyntaxError(
            f"XML label: unknown Category TagName {tag_name!r} (known: {', '.join(expected)})"
        )
    if kind != expected[tag_name]:
        raise LabelSyntaxError(
            f"XML label: Category {tag_name!r} must have Type {expected[tag_name]}, got {kind!r}"
        )
    if tag_name in seen:
        raise LabelSyntaxError(f"XML label: Category {tag_name!r} appears twice")
    children = _children(element, f"Category {tag_name!r}")
    if not children or any(_local(c) != "GenericValue" for c in children):
        raise LabelSyntaxError(f"XML label: Category {tag_name!r} must hold GenericValue elements")
    for child in children:
        _only(child, set(), "GenericValue")
    return tag_name


def _unique(values: list[str], where: str) -> frozenset[str]:
    if len(set(values)) != len(values):
        raise LabelSyntaxError(f"XML label: Category {where!r} names a value twice")
    return frozenset(values)
