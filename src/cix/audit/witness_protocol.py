"""The C2SP tlog-witness `add-checkpoint` exchange as text: build and parse, nothing else.

Request body (every line ends in U+000A):

    old <size of the checkpoint the witness last cosigned, decimal, no leading zeroes>
    <base64 hash>          zero to 63 consistency proof lines (none when old is 0)
                           an empty line
    <the signed checkpoint note: origin, size, root, extension lines, blank, signatures>

Response body (200): one or more signature lines `— <witness name> <base64>`, the
witness's cosignatures of the checkpoint. Conflict body (409, `text/x.tlog.size`): the
witness's last cosigned size, decimal, then a newline.

Every parser raises `MalformedWitnessRequest` (an `AuditInputError`), naming the line and
what is wrong with it, and nothing else; the checkpoint note itself is checked by whoever
verifies it (`open_checkpoint`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cix.audit.cosignature import parse_signature_line
from cix.audit.errors import MalformedCheckpoint, MalformedWitnessRequest

MAX_PROOF_LINES: Final = 63
#: A request holds at most a 64 KiB note and 63 proof lines: anything larger is refused
#: before it is split.
MAX_REQUEST_BYTES: Final = 64 * 1024 + 64 * 64 + 32
MAX_RESPONSE_LINES: Final = 16
_DECIMAL: Final = re.compile(r"(0|[1-9][0-9]{0,18})\Z")
CONFLICT_CONTENT_TYPE: Final = "text/x.tlog.size"


def _size(text: str, what: str) -> int:
    if not _DECIMAL.match(text):
        raise MalformedWitnessRequest(f"{what}: expected a decimal size without leading zeroes")
    value = int(text)
    if value > 2**63 - 1:
        raise MalformedWitnessRequest(f"{what}: size beyond 2^63 - 1")
    return value


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """An `add-checkpoint` request: the client's idea of the size the witness last
    cosigned (`old_size`), the consistency proof from it, and the signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def __post_init__(self) -> None:
        if isinstance(self.old_size, bool) or not isinstance(self.old_size, int):
            raise MalformedWitnessRequest("old size: expected an integer")
        if not 0 <= self.old_size <= 2**63 - 1:
            raise MalformedWitnessRequest("old size: expected 0 to 2^63 - 1")
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedWitnessRequest(f"proof: more than {MAX_PROOF_LINES} lines")
        if any(not isinstance(h, bytes) or len(h) != 32 for h in self.proof):
            raise MalformedWitnessRequest("proof: every hash is 32 bytes")
        if self.old_size == 0 and self.proof:
            raise MalformedWitnessRequest("proof: must be empty when the old size is 0")
        if not self.note.endswith("\n") or "\n\n" not in self.note:
            raise MalformedWitnessRequest("checkpoint: expected a signed note")

    def to_text(self) -> str:
        """The request body."""
        lines = [f"old {self.old_size}\n"]
        lines += [base64.b64encode(h).decode() + "\n" for h in self.proof]
        return "".join(lines) + "\n" + self.note


def parse_add_checkpoint(body: str | bytes) -> AddCheckpointRequest:
    """Parse an `add-checkpoint` request body; `MalformedWitnessRequest` names what is wrong."""
    text = _text(body, MAX_REQUEST_BYTES, "request")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise MalformedWitnessRequest("request: no empty line between the proof and checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old "):
        raise MalformedWitnessRequest("line 1: expected 'old <size>'")
    old_size = _size(first[4:], "line 1")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedWitnessRequest(f"request: more than {MAX_PROOF_LINES} proof lines")
    proof: list[bytes] = []
    for number, line in enumerate(proof_lines, start=2):
        try:
            digest = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise MalformedWitnessRequest(f"line {number}: a proof hash is not base64") from None
        if len(digest) != 32 or base64.b64encode(digest).decode() != line:
            raise MalformedWitnessRequest(f"line {number}: a proof hash is 32 bytes in base64")
        proof.append(digest)
    return AddCheckpointRequest(old_size, tuple(proof), note)


def build_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> str:
    """The request body asking a witness to cosign `note`, extending `old_size` by `proof`."""
    return AddCheckpointRequest(old_size, tuple(proof), note).to_text()


def build_cosignature_response(lines: Sequence[str]) -> str:
    """The 200 response body: the witness's cosignature lines, each newline-terminated."""
    if not lines:
        raise MalformedWitnessRequest("response: at least one cosignature line")
    for line in lines:
        _signature_line(line if line.endswith("\n") else line + "\n", "response")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def parse_cosignature_response(body: str | bytes) -> list[str]:
    """The signature lines (each with its newline) of a 200 `add-checkpoint` response."""
    text = _text(body, MAX_RESPONSE_LINES * 4096, "response")
    if not text.endswith("\n"):
        raise MalformedWitnessRequest("response: expected newline-terminated signature lines")
    lines = [line + "\n" for line in text[:-1].split("\n")]
    if len(lines) > MAX_RESPONSE_LINES:
        raise MalformedWitnessRequest(f"response: more than {MAX_RESPONSE_LINES} lines")
    for number, line in enumerate(lines, start=1):
        _signature_line(line, f"response line {number}")
    return lines


def build_conflict_body(known_size: int) -> str:
    """The 409 body: the witness's last cosigned size (`text/x.tlog.size`)."""
    return f"{_size(str(known_size), 'known size')}\n"


def parse_conflict_body(body: str | bytes) -> int:
    """The size a 409 `add-checkpoint` answer says the witness last cosigned."""
    text = _text(body, 32, "conflict body")
    if not text.endswith("\n"):
        raise MalformedWitnessRequest("conflict body: expected '<size>\\n'")
    return _size(text[:-1], "conflict body")


def _signature_line(line: str, what: str) -> None:
    try:
        parse_signature_line(line)
    except MalformedCheckpoint as exc:
        raise MalformedWitnessRequest(f"{what}: {exc}") from None


def _text(body: str | bytes, limit: int, what: str) -> str:
    if isinstance(body, bytes):
        if len(body) > limit:
            raise MalformedWitnessRequest(f"{what}: larger than {limit} bytes")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedWitnessRequest(f"{what}: not UTF-8") from None
    if not isinstance(body, str):
        raise MalformedWitnessRequest(f"{what}: expected text")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedWitnessRequest(f"{what}: not UTF-8 (a lone surrogate)") from None
    if size > limit:
        raise MalformedWitnessRequest(f"{what}: larger than {limit} bytes")
    if re.search(r"[\x00-\x09\x0b-\x1f\x7f]|\r", body):
        raise MalformedWitnessRequest(f"{what}: control characters")
    return body
