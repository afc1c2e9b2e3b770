"""The federated part of `make demo`: the nodes paired, KOR's design sent to CAN, and the
commands that walk through the exchange.

KOR↔CAN are paired under `kor-can` and CAN↔DEU under `can-deu`, as two operators do it:
each node's signed identity document is pinned by the other (`Peers.add`, what `cix peer
add` does). Once they serve, KOR's DAPA programme officer transmits the 군사Ⅱ급비밀 CPSP
design to CAN and the demo waits for CAN's signed receipt; CAN's contract security
officer then asks KOR for consent to release the copy to DEU, so that KOR's officer has a
request to answer; and each node's audit log is cosigned by the nodes it is paired with
(`wait_witnessed`: checkpoints are exchanged as the nodes start and after every message).
The printed commands show the rest: the release refused, KOR's consent, the release
allowed, and DEU's copy opened by a cleared TKMS engineer.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cix.errors import InputError

#: (party, party, agreement): the peerings of the demonstration.
PAIRINGS = (("KOR", "CAN", "kor-can"), ("CAN", "DEU", "can-deu"))
DESIGN = "cpsp-design"
"""The key of KOR's document that crosses to CAN (demo_cast)."""
COPY = "cpsp-design-from-kor"
"""The key under which CAN's node lists its copy of it."""
PURPOSE = "defence-procurement"


class Served(Protocol):
    """What the exchange needs of a demo node (cix.demo.DemoNode)."""

    @property
    def url(self) -> str:
        """The node's base URL."""

    data_dir: Path
    tokens: dict[str, str]
    documents: dict[str, str]
    consents: dict[str, str]


def party_of(node: Served) -> str:
    """The party a demo node serves (its data directory is named after it)."""
    return node.data_dir.name.upper()


def pair(nodes: Sequence[Served], environ: Mapping[str, str]) -> None:
    """Pin each pairing's identities both ways (the nodes are not serving yet)."""
    from cix.node.exchange.peers import local_operator
    from cix.node.service import Node

    by_party = {party_of(n): n for n in nodes}
    operator = local_operator("demo")
    for a, b, agreement in PAIRINGS:
        if a not in by_party or b not in by_party:
            continue
        left = Node.open(by_party[a].data_dir, environ=environ)
        right = Node.open(by_party[b].data_dir, environ=environ)
        try:
            left.peers.add(
                operator,
                right.peers.own_identity_document(),
                agreement=agreement,
                url=by_party[b].url,
            )
            right.peers.add(
                operator,
                left.peers.own_identity_document(),
                agreement=agreement,
                url=by_party[a].url,
            )
        finally:
            left.close()
            right.close()


def _wait_receipted(node: Served, person: str, transmission: str, seconds: float) -> None:
    from cix.cli.client_http import ClientConfig, ClientSession

    deadline = time.monotonic() + seconds
    with ClientSession(ClientConfig(url=node.url, token=node.tokens[person])) as session:
        while True:
            state = session.request("GET", f"/transmissions/{transmission}").json()["state"]
            if state == "receipted":
                return
            if state == "refused" or time.monotonic() > deadline:
                raise InputError(f"KOR's transmission to CAN is {state}, not receipted")
            time.sleep(0.1)


def _copy_of(can: Served, title: str) -> str:
    """CAN's id of its copy, found as a cleared CPSP member lists it by title."""
    from cix.cli.client_http import ClientConfig, ClientSession

    with ClientSession(ClientConfig(url=can.url, token=can.tokens["tide-eng"])) as session:
        page = session.request("GET", "/documents", params={"q": title}).json()
    for item in page["items"]:
        if "ORIGINATOR KOR" in str(item.get("banner", "")) or item["title"] == title:
            return str(item["id"])
    raise InputError("CAN's node lists no copy of KOR's design")


def design_title() -> str:
    """The title of KOR's design, under which CAN's and DEU's copies are listed."""
    from cix.demo_cast import KOREA

    return next(d.title for d in KOREA.documents if d.key == DESIGN)


Step = tuple[str, tuple[str, ...], dict[str, str], int]
"""A printed step: what it shows, its argv, environment and expected exit (cix.demo)."""


def third_party_steps(cix: str, client: Path, out: Path) -> list[Step]:
    """At DEU, as the TKMS engineer (client configuration `client`): the copy CAN released
    listed, then opened into `out`. The copy's id is DEU's own, known once the release is
    received, so the open looks it up (the one CPSP document listed there) with the python
    beside `cix`."""
    env = {"CIX_CLIENT_CONFIG": str(client)}
    python = cix.removesuffix("/cix") + "/python" if cix.endswith("/cix") else "python3"
    pick = 'import json,sys; print(json.load(sys.stdin)[\\"items\\"][0][\\"id\\"])'
    sh_cix = shlex.quote(cix)
    lookup = f'{sh_cix} docs list -q CPSP --json | {shlex.quote(python)} -c "{pick}"'
    return [
        (
            "at DEU, the TKMS engineer finds the copy: held under CAN's equivalent marking "
            "under can-deu, KOR named as originator and CAN as releasing party",
            (cix, "docs", "list", "-q", design_title()),
            env,
            0,
        ),
        (
            "permit: the TKMS engineer opens DEU's copy (KOR's label verified under the key "
            "CAN vouched for)",
            ("sh", "-c", f'{sh_cix} docs open "$({lookup})" -o {shlex.quote(str(out))}'),
            env,
            0,
        ),
    ]


def exchange(nodes: Sequence[Served]) -> None:
    """KOR sends its design to CAN and waits for the receipt; CAN asks KOR's consent to
    release the copy to DEU (left for KOR's officer to answer)."""
    from cix.cli.client_http import ClientConfig, ClientSession

    by_party = {party_of(n): n for n in nodes}
    kor, can = by_party.get("KOR"), by_party.get("CAN")
    if kor is None or can is None or DESIGN not in kor.documents:
        return
    with ClientSession(ClientConfig(url=kor.url, token=kor.tokens["dapa-pm"])) as session:
        sent = session.request(
            "POST", f"/documents/{kor.documents[DESIGN]}/transmit", json={"to": "CAN"}
        ).json()
    _wait_receipted(kor, "dapa-pm", str(sent["id"]), 60)
    can.documents[COPY] = _copy_of(can, design_title())
    if "DEU" not in by_party:
        return
    with ClientSession(ClientConfig(url=can.url, token=can.tokens["pspc-cso"])) as session:
        asked = session.request(
            "POST",
            "/consents",
            json={
                "document": can.documents[COPY],
                "act": "release",
                "to_party": "DEU",
                "purpose": PURPOSE,
                "reason": "TKMS builds the hull section of the Korean offer",
            },
        ).json()
    can.consents["release-to-deu"] = str(asked["id"])


def wait_witnessed(nodes: Sequence[Served], seconds: float = 60) -> None:
    """Wait until every node holds a cosignature of its audit log by each node it is paired
    with, verified under that peer's pinned audit key (`cix audit cosignatures`)."""
    from cix.node.logcheck import list_cosignatures

    parties = {party_of(n) for n in nodes}
    deadline = time.monotonic() + seconds
    for node in nodes:
        party = party_of(node)
        want = sum(1 for a, b, _ in PAIRINGS if party in (a, b) and {a, b} <= parties)
        while True:
            rows = list_cosignatures(node.data_dir)
            peers = {row.peer for row in rows if row.peer and row.cosigned_at}
            if len(peers) >= want:
                break
            if time.monotonic() > deadline:
                raise InputError(f"{party}'s audit log is cosigned by {sorted(peers)} only")
            time.sleep(0.2)
