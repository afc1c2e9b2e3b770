"""The witness side of checkpoint exchange: a pinned peer's "checkpoint" message, received
at `POST /federation/v1/add-checkpoint`, asks this node to cosign its audit log's newest
checkpoint (C2SP tlog-witness `add-checkpoint`, carried inside the signed message).

The message is a federation message like any other (`cix.node.exchange.inbox`: a pinned
sender, its signature, audience, route, agreement, skew, its id kept for good), kind
`checkpoint`, body `{"add_checkpoint": <the tlog-witness request text>}`. The checkpoint
must be signed by the audit key pinned for that peer: a checkpoint signed by any other key
is refused. `Witnessing.add_checkpoint` decides (and audits, `witness.cosign`), and the
signed answer says:

| status | body | when |
|---|---|---|
| 200 | `{"cosignatures": <tlog-cosignature/v1 lines>}` | cosigned; the state advanced |
| 409 | `{"refused": "witness-conflict", "known_size": N}` | a rollback; an old size not N |
| 409 | `{"refused": "split-view"}` | another root at the size cosigned |
| 422 | `{"refused": "inconsistent-proof"}` | the proof from the size cosigned fails |
| 403 | `{"refused": "not-signed-by-peer"}` | not signed by the peer's pinned audit key |
| 400 | `{"refused": "malformed-body"}` | not a request of the format |

The first four answers are kept with the message (the presented checkpoint is evidence);
a split view (either of its two codes) also opens an incident at this node in the same
write, and the presenting node, reading the code, opens one at its own
(`cix.node.exchange.cosigning`). The last two are refusals that keep nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from cix.audit.errors import (
    CheckpointSignatureInvalid,
    InconsistentCheckpoint,
    SplitView,
    WitnessConflict,
    WrongKey,
)
from cix.errors import InputError, VerificationError
from cix.federation import Message, PinnedPeer
from cix.node.exchange.inbox import Answer, ContentRefused
from cix.node.exchange.witnessing import Witnessing
from cix.node.procedures.incidents import Incidents
from cix.node.roles import SYSTEM

CHECKPOINT_KIND: Final = "checkpoint"
"""The kind of a message asking the receiver to witness the sender's audit log."""
#: The codes of a split view: the presenting node opens an incident on reading either.
SPLIT_VIEW_CODES: Final = frozenset({"split-view", "inconsistent-proof"})


def split_view_description(log_name: str, witness: str, size: int, detail: str) -> str:
    """The incident text of a split view of the log `log_name` shown to `witness` (one
    incident per log, witness, size and detail: the same fault seen again is not new)."""
    return (
        f"split view: the audit log {log_name} presented to witness {witness} a checkpoint "
        f"inconsistent with the one cosigned at size {size} ({detail})"
    )


class CheckpointWitness:
    """The inbox handler of "checkpoint" messages (see the module docstring)."""

    def __init__(
        self,
        witnessing: Witnessing,
        incidents: Incidents,
        *,
        peer: Callable[[str], PinnedPeer | None],
        node_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._witnessing = witnessing
        self._incidents = incidents
        self._peer = peer
        self._node_id = node_id
        self._clock = clock

    def handle(self, session: Session, message: Message, _body: Path | None) -> Answer:
        """Witness the sender's checkpoint inside the inbox's write (see the module
        docstring for the answers)."""
        text = message.body.get("add_checkpoint")
        if set(message.body) != {"add_checkpoint"} or not isinstance(text, str):
            raise ContentRefused(
                "malformed-body", "expected exactly {add_checkpoint: text}", status=400
            )
        pinned = self._peer(message.sender)
        if pinned is None:  # unpinned since the inbox verified it
            raise ContentRefused("unknown-sender", status=403)
        log_key = pinned.identity.audit_key
        now = self._clock()
        try:
            lines = self._witnessing.add_checkpoint(log_key, text, now)
        except WitnessConflict as exc:
            return Answer(409, {"refused": "witness-conflict", "known_size": exc.known_size})
        except SplitView as exc:
            code = "inconsistent-proof" if isinstance(exc, InconsistentCheckpoint) else "split-view"
            known = self._witnessing.witness.known_size(log_key)
            description = split_view_description(log_key.name, self._node_id, known, code)
            _, record = self._incidents.open_once(
                session, SYSTEM, kind="suspected", description=description, now=now
            )
            status = 422 if code == "inconsistent-proof" else 409
            return Answer(status, {"refused": code}, events=(record,) if record else ())
        except (WrongKey, CheckpointSignatureInvalid):
            raise ContentRefused(
                "not-signed-by-peer",
                f"the checkpoint is not signed by the audit key pinned for {message.sender}",
                status=403,
            ) from None
        except (InputError, VerificationError) as exc:
            raise ContentRefused("malformed-body", str(exc)[:300], status=400) from None
        return Answer(200, {"cosignatures": lines})
