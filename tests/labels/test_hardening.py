"""Issue 10 on the label core: creation times and sizes a label may not carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cix.agreements import bundled, bundled_registry, registry_of
from cix.errors import InputError
from cix.labels import Label, LabelError, format_time, label_from_json, parse_time
from cix.labels.build import MAX_JSON, label_from_json_text
from cix.labels.label import EARLIEST, LATEST, MAX_PARTIES, MAX_PROGRAMMES
from tests.labels.strategies import labels

RELAXED = settings(deadline=None)


def _json(created: str, **extra: object) -> dict[str, object]:
    return {
        "policy": "kor-can",
        "originator": "KOR",
        "classification": "II",
        "releasable_to": ["CAN", "KOR"],
        "created": created,
        **extra,
    }


@pytest.mark.parametrize(
    "created",
    [
        "0999-06-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1899-12-31T23:59:59.999999Z",
        "2201-01-01T00:00:00Z",
        "2200-12-31T23:59:59-00:01",
        "1900-01-01T00:00:00+00:01",
    ],
)
def test_label_created_out_of_range_is_refused_naming_the_field(created: str) -> None:
    with pytest.raises(LabelError, match="created"):
        label_from_json(_json(created), bundled_registry())


def test_label_created_far_offset_does_not_overflow() -> None:
    moment = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(LabelError, match="created"):
        Label(
            policy="kor-national",
            originator="KOR",
            classification="II",
            releasable_to=frozenset({"KOR"}),
            created=moment,
        )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1900-01-01T00:00:00Z", "1900-01-01T00:00:00Z"),
        ("1899-12-31T23:30:00-01:00", "1900-01-01T00:30:00Z"),
        ("2200-12-31T23:59:59.999999Z", "2200-12-31T23:59:59.999999Z"),
        ("2201-01-01T00:30:00+01:00", "2200-12-31T23:30:00Z"),
        ("2020-05-06t07:08:09z", "2020-05-06T07:08:09Z"),
        ("2020-05-06t07:08:09+02:00", "2020-05-06T05:08:09Z"),
    ],
)
def test_label_created_edges_and_lower_case_z_have_one_canonical_form(
    text: str, canonical: str
) -> None:
    assert format_time(parse_time(text)) == canonical
    label = label_from_json(_json(text), bundled_registry())
    assert label.to_json()["created"] == canonical


@pytest.mark.parametrize("text", ["2020-05-06 07:08:09Z", "２０２０-05-06T07:08:09Z"])
def test_label_created_not_rfc3339_is_refused(text: str) -> None:
    with pytest.raises(LabelError, match="created"):
        parse_time(text)


@RELAXED
@given(labels())
def test_every_label_formats_and_parses_back_to_itself(label: Label) -> None:
    again = label_from_json_text(label_from_json_text_of(label), bundled_registry())
    assert again == label
    assert format_time(parse_time(format_time(label.created))) == format_time(label.created)
    assert len(format_time(label.created).split("-", 1)[0]) == 4


def label_from_json_text_of(label: Label) -> str:
    import json

    return json.dumps(label.to_json())


@RELAXED
@given(
    st.datetimes(
        min_value=datetime(1899, 12, 30),
        max_value=datetime(2201, 1, 2),
        timezones=st.builds(
            timezone,
            st.timedeltas(
                min_value=timedelta(hours=-23, minutes=-59),
                max_value=timedelta(hours=23, minutes=59),
            ).map(lambda d: timedelta(minutes=int(d.total_seconds() // 60))),
        ),
    )
)
def test_every_admitted_time_round_trips_and_others_are_refused(moment: datetime) -> None:
    text = moment.isoformat()
    if EARLIEST <= moment <= LATEST:
        parsed = parse_time(text)
        assert parsed == moment
        assert parse_time(format_time(parsed)) == parsed
    else:
        with pytest.raises(LabelError, match="created"):
            parse_time(text)


def _programmes(count: int, length: int = 32) -> list[str]:
    return [f"P{i:0{length - 1}d}" for i in range(count)]


def test_label_with_too_many_programmes_is_refused_at_parse() -> None:
    obj = _json("2020-01-01T00:00:00Z", programmes=_programmes(MAX_PROGRAMMES + 1))
    with pytest.raises(InputError, match="programmes: 33 values, at most 32"):
        label_from_json(obj, bundled_registry())


def test_label_with_programme_id_too_long_is_refused_at_parse() -> None:
    obj = _json("2020-01-01T00:00:00Z", programmes=["P" * 33])
    with pytest.raises(InputError, match="programmes"):
        label_from_json(obj, bundled_registry())


def test_label_with_too_many_parties_is_refused() -> None:
    parties = {f"A{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(MAX_PARTIES)}
    with pytest.raises(LabelError, match="releasable_to: 33 values"):
        Label(
            policy="kor-can",
            originator="KOR",
            classification="II",
            releasable_to=frozenset(parties | {"KOR"}),
            created=datetime(2020, 1, 1, tzinfo=UTC),
        )


def test_label_json_text_too_long_is_refused_before_parsing() -> None:
    with pytest.raises(InputError, match="longer than"):
        label_from_json_text(" " * (MAX_JSON + 1), bundled_registry())


def test_largest_admitted_label_round_trips_in_every_form() -> None:
    from cix.labels import banner, from_4774_xml, parse_marking, to_4774_xml

    agreement = bundled("kor-can")
    label = label_from_json(
        _json(
            "2200-12-31T23:59:59.999999Z",
            programmes=_programmes(MAX_PROGRAMMES),
            caveats=["GOVONLY", "ORCON"],
            purpose=agreement.purposes[0],
        ),
        bundled_registry(),
    )
    assert label_from_json_text(label_from_json_text_of(label), bundled_registry()) == label
    assert from_4774_xml(to_4774_xml(label, bundled_registry()), bundled_registry()) == label
    text = banner(label, agreement)
    assert (
        parse_marking(
            text,
            created=label.created,
            purpose=label.purpose,
            agreement=agreement,
            registry=registry_of(agreement),
        )
        == label
    )


@pytest.mark.parametrize("code", ["ZZZ", "XYZ", "AAA", "QQQ", "XKX"])
def test_label_naming_a_made_up_country_is_refused(code: str) -> None:
    with pytest.raises(LabelError, match="ISO 3166-1 alpha-3"):
        label_from_json(
            _json("2020-01-01T00:00:00Z", releasable_to=["CAN", "KOR", code]), bundled_registry()
        )


@pytest.mark.parametrize("code", ["ZZZ", "kor", "KO", "KORE", "ＫＯＲ", 7])
def test_nationality_validator_refuses_what_is_no_country(code: object) -> None:
    from cix.labels import is_country, nationality

    assert not is_country(code)
    with pytest.raises(LabelError, match="nationalities"):
        nationality(code, "nationalities")


def test_registry_person_with_made_up_nationality_is_refused() -> None:
    from pydantic import ValidationError

    from cix.node.schemas import PersonIn, PersonPatch

    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-3"):
        PersonIn.model_validate(
            {"id": "p1", "name": "P", "organisation": "o1", "nationalities": ["CAN", "ZZZ"]}
        )
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-3"):
        PersonPatch.model_validate({"nationalities": ["ZZZ"]})
    assert PersonIn.model_validate(
        {"id": "p1", "name": "P", "organisation": "o1", "nationalities": ["CAN", "BRA"]}
    ).nationalities == ["CAN", "BRA"]


def test_label_core_has_no_hidden_default_registry() -> None:
    from cix.labels import parse_label

    with pytest.raises(TypeError, match="registry"):
        parse_label('{"policy": "kor-can"}')  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="registry"):
        label_from_json(_json("2020-01-01T00:00:00Z"))  # type: ignore[call-arg]
