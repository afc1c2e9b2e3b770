"""The reader on hostile input: any bytes, and sealed objects with any random damage, are
refused with the one opaque `ObjectRefused`, never opened and never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cix.envelope import ObjectRefused, RefusalReason
from cix.keys import KemPrivateKey, SigningKey
from tests.envelope.helpers import Audit, open_bytes, seal_bytes

DATA = b"fuzzing the reader " * 5


@pytest.fixture(scope="module")
def blob(alice: KemPrivateKey, signer: SigningKey) -> bytes:
    return seal_bytes(DATA, [alice.public], signer, segment_size=32)


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=2048))
def test_arbitrary_bytes_are_not_a_zip(
    junk: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    audit = Audit()
    with pytest.raises(ObjectRefused):
        open_bytes(junk, alice, [signer.public], audit)
    assert audit.only is RefusalReason.MALFORMED_OBJECT


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_damage_never_escapes(
    data: st.DataObject, blob: bytes, alice: KemPrivateKey, signer: SigningKey
) -> None:
    damaged = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        i = data.draw(st.integers(0, len(blob) - 1), label="offset")
        damaged[i] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(0, 3), label="truncate")
    candidate = bytes(damaged[: len(damaged) - cut] if cut else damaged)
    if candidate == blob:  # the damage wrote back the same bytes
        return
    with pytest.raises(ObjectRefused):
        open_bytes(candidate, alice, [signer.public])
