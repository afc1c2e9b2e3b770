"""STANAG 4774 XML: structure as written, and every malformed or hostile input refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cix.agreements import bundled, bundled_registry
from cix.labels import (
    NAMESPACE,
    AlternativeLabel,
    Label,
    LabelSyntaxError,
    OutOfScope,
    UnknownLevel,
    UnknownParty,
    alternative_label,
    from_4774_xml,
    make_label,
    to_4774_xml,
)

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
KOR_CAN = bundled("kor-can")


def _label() -> Label:
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification="II",
        releasable_to={"KOR", "CAN"},
        programmes={"CPSP"},
        caveats={"GOVONLY"},
        purpose="defence-procurement",
        created=NOW,
        registry=bundled_registry(),
    )


def _xml() -> str:
    return to_4774_xml(_label(), registry=bundled_registry()).decode("utf-8")


def test_written_xml_has_the_4774_structure() -> None:
    text = _xml()
    assert f'<originatorConfidentialityLabel xmlns="{NAMESPACE}">' in text
    assert '<PolicyIdentifier URI="urn:cix:policy:kor-can">kor-can</PolicyIdentifier>' in text
    assert "<Classification>군사Ⅱ급비밀</Classification>" in text
    assert '<Category TagName="Releasable To" Type="PERMISSIVE">' in text
    assert '<Category TagName="Handling Caveat" Type="RESTRICTIVE">' in text
    assert "<CreationDateTime>2026-03-01T09:30:00Z</CreationDateTime>" in text
    assert text.index("<ConfidentialityInformation>") < text.index("<OriginatorID")


def test_alternative_label_is_written_in_the_receivers_scheme() -> None:
    alternative = alternative_label(_label(), KOR_CAN, "CAN")
    text = to_4774_xml(alternative, registry=bundled_registry()).decode("utf-8")
    assert text.count("<alternativeConfidentialityLabel") == 1
    assert "<Classification>SECRET</Classification>" in text
    assert '<OriginatorID IDType="ISO3166-1-alpha-3">KOR</OriginatorID>' in text
    parsed = from_4774_xml(text, registry=bundled_registry())
    assert isinstance(parsed, AlternativeLabel)
    assert parsed.label == _label()


def test_xxe_external_entity_is_refused() -> None:
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f'<originatorConfidentialityLabel xmlns="{NAMESPACE}">&x;</originatorConfidentialityLabel>'
    )
    with pytest.raises(LabelSyntaxError, match="DTDs and entities are not allowed"):
        from_4774_xml(hostile, registry=bundled_registry())


def test_billion_laughs_is_refused() -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE r [{entities}]>'
        f'<originatorConfidentialityLabel xmlns="{NAMESPACE}">&a9;</originatorConfidentialityLabel>'
    )
    with pytest.raises(LabelSyntaxError, match="DTDs and entities are not allowed"):
        from_4774_xml(hostile, registry=bundled_registry())


def _replace(old: str, new: str) -> str:
    text = _xml()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("xml", "error", "message"),
    [
        ("", LabelSyntaxError, "not well-formed"),
        ("<a", LabelSyntaxError, "not well-formed"),
        ("<label/>", LabelSyntaxError, "root element 'label' is not a 4774"),
        (
            _replace(NAMESPACE, "urn:example:other"),
            LabelSyntaxError,
            "is not a 4774 originator or alternative",
        ),
        (
            _replace("<OriginatorID", "<Extra>x</Extra><OriginatorID"),
            LabelSyntaxError,
            "unsupported element 'Extra'",
        ),
        (
            _replace("<CreationDateTime>2026-03-01T09:30:00Z</CreationDateTime>", ""),
            LabelSyntaxError,
            "missing CreationDateTime",
        ),
        (
            _replace("2026-03-01T09:30:00Z", "2026-03-01T09:30:00"),
            LabelSyntaxError,
            "not an RFC 3339 date-time with an offset",
        ),
        (
            _replace('TagName="Handling Caveat"', 'TagName="Colour"'),
            LabelSyntaxError,
            "unknown Category TagName 'Colour'",
        ),
        (
            _replace('Type="PERMISSIVE"', 'Type="RESTRICTIVE"'),
            LabelSyntaxError,
            "'Releasable To' must have Type PERMISSIVE",
        ),
        (
            _replace("<Classification>", "<Classification>X</Classification><Classification>"),
            LabelSyntaxError,
            "Classification appears twice",
        ),
        (
            _replace("군사Ⅱ급비밀", "군사Ⅳ급비밀"),
            UnknownLevel,
            "'군사Ⅳ급비밀' is not a level of KOR",
        ),
        (
            _replace("군사Ⅱ급비밀", "군사Ⅰ급비밀"),
            OutOfScope,
            "out of scope of kor-can",
        ),
        (
            _replace(">KOR</OriginatorID>", ">USA</OriginatorID>"),
            UnknownParty,
            "'USA' is not a party to kor-can",
        ),
        (
            _replace("<GenericValue>CAN</GenericValue>", "<GenericValue>BRA</GenericValue>"),
            UnknownParty,
            "BRA is not a party",
        ),
        (
            _replace('URI="urn:cix:policy:kor-can"', 'URI="urn:example"'),
            LabelSyntaxError,
            "PolicyIdentifier URI must be urn:cix:policy:kor-can",
        ),
        (
            _replace('IDType="ISO3166-1-alpha-3"', 'IDType="uri"'),
            LabelSyntaxError,
            "IDType 'uri' is not supported",
        ),
        (
            _replace("<GenericValue>CPSP</GenericValue>", "<Value>CPSP</Value>"),
            LabelSyntaxError,
            "must hold GenericValue elements",
        ),
        (
            _replace("<GenericValue>CPSP</GenericValue>", "<GenericValue>CPSP</GenericValue>" * 2),
            LabelSyntaxError,
            "names a value twice",
        ),
        ("<x>" + "y" * 70000 + "</x>", LabelSyntaxError, "larger than"),
    ],
)
def test_malformed_xml_is_refused_naming_the_problem(
    xml: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        from_4774_xml(xml, registry=bundled_registry())


REGRESSIONS = Path(__file__).parents[1] / "vectors" / "labels" / "regressions"


def test_unknown_declared_encoding_is_refused() -> None:
    # Found by the mutation fuzz test: expat raised LookupError, which escaped as a traceback.
    data = (REGRESSIONS / "xml-unknown-declared-encoding.xml").read_bytes()
    with pytest.raises(LabelSyntaxError, match="unknown encoding"):
        from_4774_xml(data, registry=bundled_registry())
