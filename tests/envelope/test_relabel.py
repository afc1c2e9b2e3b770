"""Classification changes (rule 3, docs/format.md §7b): the originator relabels its object
without re-encrypting it, and the one `LabelChange` it signs installs in every copy of that
object (rewrapped to another nation's key, carrying that nation's alternative label) and in
no other object; a holder cannot forge one, and an old one cannot roll a label back.

The labels are real: a Korean 군사Ⅱ급비밀 (SECRET) of kor-can downgraded to 군사Ⅲ급비밀.
KOR holds the original (key `korea_kem`), CAN a copy rewrapped to `alice`, DEU (a third
party, through CAN) a copy rewrapped to `bob`.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cix import envelope
from cix.agreements import bundled, bundled_registry
from cix.envelope import LabelChange, ObjectRefused, RefusalReason
from cix.envelope._assertion import label_assertion, sign_binding
from cix.envelope._manifest import b64, canonical
from cix.errors import InputError, Refused
from cix.keys import (
    KemAlgorithm,
    KemPrivateKey,
    SigningKey,
    VerifyKey,
    generate_kem,
    generate_signing,
)
from cix.labels import Label, alternative_label, alternative_to_json, make_label, to_4774_xml
from tests.envelope.helpers import members, open_bytes, seal_bytes

KOR_CAN = bundled("kor-can")
REGISTRY = bundled_registry()
DATA = os.urandom(3000)
SEGMENT = 1000


def _korean(classification: str) -> Label:
    return make_label(
        KOR_CAN,
        originator="KOR",
        classification=classification,
        releasable_to={"KOR", "CAN"},
        programmes={"CPSP"},
        created=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        registry=REGISTRY,
    )


SECRET = _korean("군사Ⅱ급비밀")
CONFIDENTIAL = _korean("군사Ⅲ급비밀")


@pytest.fixture(scope="module")
def korea_kem() -> KemPrivateKey:
    return generate_kem(KemAlgorithm.X25519)


@pytest.fixture(scope="module")
def canada() -> SigningKey:
    return generate_signing()


@pytest.fixture(scope="module")
def germany() -> SigningKey:
    return generate_signing()


def _trusted(
    korea: SigningKey, canada: SigningKey, germany: SigningKey | None = None
) -> dict[str, list[VerifyKey]]:
    trusted = {"KOR": [korea.public], "CAN": [canada.public]}
    if germany is not None:
        trusted["DEU"] = [germany.public]
    return trusted


def _seal(key: KemPrivateKey, korea: SigningKey, **kw: Any) -> bytes:
    return seal_bytes(
        DATA,
        [key.public],
        korea,
        label_json=SECRET.to_json(),
        label_xml=to_4774_xml(SECRET, REGISTRY),
        segment_size=SEGMENT,
        **kw,
    )


def _relabel(
    blob: bytes,
    key: KemPrivateKey,
    korea: SigningKey,
    label: Label = CONFIDENTIAL,
    trusted: Mapping[str, list[VerifyKey]] | None = None,
    signer: SigningKey | None = None,
) -> tuple[bytes, LabelChange]:
    out = io.BytesIO()
    change = envelope.relabel(
        io.BytesIO(blob),
        out,
        private_key=key,
        trusted_signers=trusted or {"KOR": [korea.public]},
        label_json=label.to_json(),
        label_xml=to_4774_xml(label, REGISTRY),
        signer=signer or korea,
    )
    return out.getvalue(), change


def _install(
    blob: bytes, key: KemPrivateKey, trusted: Mapping[str, Any], change: LabelChange
) -> bytes:
    out = io.BytesIO()
    envelope.install_label(
        io.BytesIO(blob), out, private_key=key, trusted_signers=trusted, change=change
    )
    return out.getvalue()


def _refused(
    blob: bytes, key: KemPrivateKey, trusted: Mapping[str, Any], change: LabelChange
) -> RefusalReason:
    seen: list[ObjectRefused] = []
    with pytest.raises(ObjectRefused) as refused:
        envelope.install_label(
            io.BytesIO(blob),
            io.BytesIO(),
            private_key=key,
            trusted_signers=trusted,
            change=change,
            audit_hook=seen.append,
        )
    assert str(refused.value) == str(Refused())  # opaque
    assert [r.reason for r in seen] == [refused.value.reason]  # audited first
    return refused.value.reason


def _rewrap(blob: bytes, key: KemPrivateKey, to: KemPrivateKey, trusted: Any) -> bytes:
    out = io.BytesIO()
    envelope.rewrap(
        io.BytesIO(blob), out, private_key=key, to=[to.public], trusted_signers=trusted,
        drop_others=True,
    )  # fmt: skip
    return out.getvalue()


def _mark(blob: bytes, key: KemPrivateKey, trusted: Any, party: str, label: Label,
          signer: SigningKey) -> bytes:  # fmt: skip
    alternative = alternative_label(label, KOR_CAN, party) if party == "CAN" else None
    label_json = (
        alternative_to_json(alternative)
        if alternative is not None
        else {"classification": "GEHEIM", "label": label.to_json(), "party": party}
    )
    xml = to_4774_xml(alternative, REGISTRY) if alternative is not None else b"<x/>"
    out = io.BytesIO()
    envelope.add_alternative_label(
        io.BytesIO(blob), out, private_key=key, trusted_signers=trusted,
        label_json=label_json, label_xml=xml, signer=signer,
    )  # fmt: skip
    return out.getvalue()


@pytest.fixture(scope="module")
def original(korea_kem: KemPrivateKey, signer: SigningKey) -> bytes:
    return _seal(korea_kem, signer)


@pytest.fixture(scope="module")
def can_copy(
    original: bytes, korea_kem: KemPrivateKey, alice: KemPrivateKey, signer: SigningKey,
    canada: SigningKey,
) -> bytes:  # fmt: skip
    """CAN's copy: rewrapped to CAN's key, marked with CAN's alternative label."""
    trusted = _trusted(signer, canada)
    return _mark(_rewrap(original, korea_kem, alice, trusted), alice, trusted, "CAN", SECRET,
                 canada)  # fmt: skip


@pytest.fixture(scope="module")
def deu_copy(
    can_copy: bytes, alice: KemPrivateKey, bob: KemPrivateKey, signer: SigningKey,
    canada: SigningKey, germany: SigningKey,
) -> bytes:  # fmt: skip
    """DEU's copy, released by CAN: CAN's and DEU's alternative labels."""
    trusted = _trusted(signer, canada, germany)
    return _mark(_rewrap(can_copy, alice, bob, trusted), bob, trusted, "DEU", SECRET, germany)


@pytest.fixture(scope="module")
def relabelled(
    original: bytes, korea_kem: KemPrivateKey, signer: SigningKey
) -> tuple[bytes, LabelChange]:
    return _relabel(original, korea_kem, signer)


# --- at the originator ------------------------------------------------------------------


def test_relabelled_object_opens_with_the_new_label(
    original: bytes, relabelled: tuple[bytes, LabelChange], korea_kem: KemPrivateKey,
    signer: SigningKey,
) -> None:  # fmt: skip
    blob, change = relabelled
    plain, opened = open_bytes(blob, korea_kem, [signer.public])
    assert plain == DATA
    assert opened.label_json == CONFIDENTIAL.to_json()
    assert opened.label_xml == to_4774_xml(CONFIDENTIAL, REGISTRY)
    assert opened.signer_kid == signer.kid
    # The old object's label, expected, is refused on the new one.
    with pytest.raises(ObjectRefused):
        open_bytes(blob, korea_kem, [signer.public], expected_label=SECRET.to_json())
    assert change.label_json == CONFIDENTIAL.to_json()
    assert change.revision == 1


def test_relabel_keeps_payload_wrapped_keys_and_policy_uuid(
    original: bytes, relabelled: tuple[bytes, LabelChange]
) -> None:
    before, payload_before = members(original)
    after, payload_after = members(relabelled[0])
    assert payload_after == payload_before  # not re-encrypted
    enc_b, enc_a = before["encryptionInformation"], after["encryptionInformation"]
    assert enc_a["integrityInformation"] == enc_b["integrityInformation"]
    assert [k["wrappedKey"] for k in enc_a["keyAccess"]] == [
        k["wrappedKey"] for k in enc_b["keyAccess"]
    ]
    assert enc_a["keyAccess"][0]["policyBinding"] != enc_b["keyAccess"][0]["policyBinding"]
    policy_b = json.loads(base64.b64decode(enc_b["policy"]))
    policy_a = json.loads(base64.b64decode(enc_a["policy"]))
    assert policy_a["uuid"] == policy_b["uuid"]
    assert policy_a["body"]["cix"] == {
        "version": 1, "label": CONFIDENTIAL.to_json(), "revision": 1
    }  # fmt: skip
    assert enc_a["policy"] == relabelled[1].policy


def test_relabelled_twice_counts_revisions(
    relabelled: tuple[bytes, LabelChange], korea_kem: KemPrivateKey, signer: SigningKey
) -> None:
    blob, change = _relabel(relabelled[0], korea_kem, signer, SECRET)
    assert change.revision == 2
    assert open_bytes(blob, korea_kem, [signer.public])[1].label_json == SECRET.to_json()


def test_relabel_naming_another_originator_is_refused(
    original: bytes, korea_kem: KemPrivateKey, signer: SigningKey
) -> None:
    canadian = make_label(
        KOR_CAN, originator="CAN", classification="SECRET", releasable_to={"KOR", "CAN"},
        created=datetime(2026, 3, 1, tzinfo=UTC), registry=REGISTRY,
    )  # fmt: skip
    with pytest.raises(InputError, match="originator"):
        _relabel(original, korea_kem, signer, canadian)


def test_relabel_by_a_holder_without_the_originators_key_is_refused(
    can_copy: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey
) -> None:
    # CAN holds a copy and its own key, trusted for CAN's labels: not for KOR's.
    with pytest.raises(InputError, match="trusted"):
        _relabel(can_copy, alice, signer, trusted=_trusted(signer, canada), signer=canada)


# --- at the holders of copies ------------------------------------------------------------


def test_reclassification_installs_in_a_copy_rewrapped_and_marked(
    can_copy: bytes, relabelled: tuple[bytes, LabelChange], alice: KemPrivateKey,
    signer: SigningKey, canada: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada)
    installed = _install(can_copy, alice, trusted, relabelled[1])
    plain, opened = open_bytes(installed, alice, trusted)
    assert plain == DATA
    assert opened.label_json == CONFIDENTIAL.to_json()
    assert opened.alternative_labels == ()  # CAN's old marking was of the old label
    assert members(installed)[1] == members(can_copy)[1]
    # CAN re-marks its copy: its new alternative label of the new label.
    remarked = _mark(installed, alice, trusted, "CAN", CONFIDENTIAL, canada)
    (alternative,) = open_bytes(remarked, alice, trusted)[1].alternative_labels
    assert alternative.label_json == alternative_to_json(
        alternative_label(CONFIDENTIAL, KOR_CAN, "CAN")
    )


def test_reclassification_installs_in_a_third_partys_copy(
    deu_copy: bytes, relabelled: tuple[bytes, LabelChange], bob: KemPrivateKey,
    signer: SigningKey, canada: SigningKey, germany: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada, germany)
    assert len(open_bytes(deu_copy, bob, trusted)[1].alternative_labels) == 2
    installed = _install(deu_copy, bob, trusted, relabelled[1])
    assert open_bytes(installed, bob, trusted)[1].label_json == CONFIDENTIAL.to_json()


def test_label_installed_from_another_object_is_refused(
    can_copy: bytes, korea_kem: KemPrivateKey, alice: KemPrivateKey, signer: SigningKey,
    canada: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada)
    other = _seal(korea_kem, signer)  # another document, same label, same originator
    _, change = _relabel(other, korea_kem, signer)
    assert _refused(can_copy, alice, trusted, change) is RefusalReason.ASSERTION_BINDING_MISMATCH
    # Even with the policy uuid of this object, the signature binds the other's segments.
    uuid = json.loads(base64.b64decode(members(can_copy)[0]["encryptionInformation"]["policy"]))[
        "uuid"
    ]
    same_uuid = _seal(korea_kem, signer, policy_uuid=uuid)
    _, change = _relabel(same_uuid, korea_kem, signer)
    assert _refused(can_copy, alice, trusted, change) is RefusalReason.ASSERTION_BINDING_MISMATCH


def _forged_policy(copy: bytes, label: Label, revision: int = 1) -> str:
    policy = json.loads(base64.b64decode(members(copy)[0]["encryptionInformation"]["policy"]))
    policy["body"]["cix"] = {"version": 1, "label": label.to_json(), "revision": revision}
    return b64(canonical(policy))


def _forged_change(copy: bytes, label: Label, signer: SigningKey) -> LabelChange:
    """A change of `copy` to `label` that `signer` signs over the copy's own manifest, as the
    envelope signs (what a holder with its own key but not the originator's can make)."""
    doc = members(copy)[0]
    policy = _forged_policy(copy, label)
    doc["encryptionInformation"]["policy"] = policy
    doc["assertions"] = [a for a in doc["assertions"] if a["id"] == "cix-label"]
    assertion = label_assertion(to_4774_xml(label, REGISTRY).decode())
    doc["assertions"] = [assertion]
    tags = [
        base64.b64decode(s["hash"])
        for s in doc["encryptionInformation"]["integrityInformation"]["segments"]
    ]
    assertion["binding"] = sign_binding(doc, assertion, tags, signer)
    return LabelChange(policy, assertion)


def test_receiver_cannot_forge_a_classification_change(
    can_copy: bytes, relabelled: tuple[bytes, LabelChange], alice: KemPrivateKey,
    signer: SigningKey, canada: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada)
    downgraded = _korean("군사Ⅲ급비밀")
    # Signed with CAN's own key (trusted, but for CAN's labels): not the originator's.
    forged = _forged_change(can_copy, downgraded, canada)
    assert _refused(can_copy, alice, trusted, forged) is RefusalReason.SIGNER_NOT_ORIGINATOR
    # Signed with a key nobody trusts.
    forged = _forged_change(can_copy, downgraded, generate_signing())
    assert _refused(can_copy, alice, trusted, forged) is RefusalReason.UNKNOWN_SIGNER
    # The originator's genuine assertion under a policy the holder rewrote: the CPSP
    # programme dropped from the new label.
    rewritten = make_label(
        KOR_CAN, originator="KOR", classification="군사Ⅲ급비밀", releasable_to={"KOR", "CAN"},
        created=datetime(2026, 3, 1, 9, 30, tzinfo=UTC), registry=REGISTRY,
    )  # fmt: skip
    assert rewritten != CONFIDENTIAL
    swapped = LabelChange(_forged_policy(can_copy, rewritten), relabelled[1].assertion)
    assert _refused(can_copy, alice, trusted, swapped) is RefusalReason.ASSERTION_BINDING_MISMATCH
    # A change naming the holder as originator, signed by the holder: refused too.
    canadian = make_label(
        KOR_CAN, originator="CAN", classification="SECRET", releasable_to={"KOR", "CAN"},
        created=datetime(2026, 3, 1, tzinfo=UTC), registry=REGISTRY,
    )  # fmt: skip
    forged = _forged_change(can_copy, canadian, canada)
    assert _refused(can_copy, alice, trusted, forged) is RefusalReason.SIGNER_NOT_ORIGINATOR


def test_replayed_older_change_cannot_roll_the_label_back(
    can_copy: bytes, relabelled: tuple[bytes, LabelChange], korea_kem: KemPrivateKey,
    alice: KemPrivateKey, signer: SigningKey, canada: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada)
    first = relabelled[1]
    _, second = _relabel(relabelled[0], korea_kem, signer, SECRET)  # back up, revision 2
    copy = _install(_install(can_copy, alice, trusted, first), alice, trusted, second)
    assert open_bytes(copy, alice, trusted)[1].label_json == SECRET.to_json()
    assert _refused(copy, alice, trusted, first) is RefusalReason.LABEL_CHANGE_STALE
    assert _refused(copy, alice, trusted, second) is RefusalReason.LABEL_CHANGE_STALE
    # Out of order: the newer first, then the older one is stale.
    newest = _install(can_copy, alice, trusted, second)
    assert _refused(newest, alice, trusted, first) is RefusalReason.LABEL_CHANGE_STALE


def test_each_byte_flip_of_the_new_assertion_is_refused(
    can_copy: bytes, relabelled: tuple[bytes, LabelChange], alice: KemPrivateKey,
    signer: SigningKey, canada: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada)
    change = relabelled[1]
    text = canonical(dict(change.assertion))
    tried = 0
    for at in range(len(text)):
        flipped = bytearray(text)
        flipped[at] ^= 0x01
        try:
            assertion = json.loads(bytes(flipped))
            forged = LabelChange.from_json({**change.to_json(), "assertion": assertion})
        except (ValueError, InputError):
            continue  # not JSON any more: refused as bad input before any object is touched
        tried += 1
        with pytest.raises(ObjectRefused):
            _install(can_copy, alice, trusted, forged)
    assert tried > len(text) // 2  # most flips still parse: each was refused by verification


def test_each_byte_flip_of_the_new_policy_is_refused(
    can_copy: bytes, relabelled: tuple[bytes, LabelChange], alice: KemPrivateKey,
    signer: SigningKey, canada: SigningKey,
) -> None:  # fmt: skip
    trusted = _trusted(signer, canada)
    change = relabelled[1]
    raw = base64.b64decode(change.policy)
    for at in range(len(raw)):
        flipped = bytearray(raw)
        flipped[at] ^= 0x01
        forged = LabelChange(base64.b64encode(bytes(flipped)).decode(), change.assertion)
        with pytest.raises(ObjectRefused):
            _install(can_copy, alice, trusted, forged)


def test_label_change_json_round_trips_and_refuses_other_shapes(
    relabelled: tuple[bytes, LabelChange],
) -> None:
    change = relabelled[1]
    assert LabelChange.from_json(json.loads(json.dumps(change.to_json()))) == change
    bad: object
    for bad in (
        None, [], {}, {**change.to_json(), "type": "x"}, {**change.to_json(), "extra": 1},
        {**change.to_json(), "policy": 3}, {**change.to_json(), "assertion": "x"},
    ):  # fmt: skip
        with pytest.raises(InputError):
            LabelChange.from_json(bad)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    assertion=st.dictionaries(st.sampled_from(["id", "type", "statement", "binding", "x"]), _JSON),
    policy=st.one_of(st.text(max_size=40), st.binary(max_size=60).map(lambda b: b64(b))),
)
def test_any_label_change_is_refused_or_bad_input_never_a_crash(
    can_copy: bytes, alice: KemPrivateKey, signer: SigningKey, canada: SigningKey,
    assertion: dict[str, Any], policy: str,
) -> None:  # fmt: skip
    try:
        change = LabelChange.from_json({"type": "cix-label-change/v1", "policy": policy,
                                        "assertion": assertion})  # fmt: skip
    except InputError:
        return
    with pytest.raises((ObjectRefused, InputError)):
        _install(can_copy, alice, _trusted(signer, canada), change)
