"""`make demo`: three national nodes side by side, seeded, with commands to try.

`python -m cix.demo` recreates `./demo-data/` and, for Canada, Korea and Germany
(`cix.demo_cast`), initialises a node, seeds its registry, gives every person an API token and
a client configuration file, serves the node (`cix serve`, its own loopback port), uploads the
sample documents through the REST API as their originators, and prints the addresses, sample
tokens and commands: a permitted open, a refused open and its reasons in the audit log, and
`cix audit verify`. It serves until Ctrl-C, then stops the nodes cleanly.

The nodes are federated (`cix.demo_exchange`): KOR↔CAN under `kor-can`, CAN↔DEU under
`can-deu`; at start KOR sends CAN its 군사Ⅱ급비밀 CPSP design and the receipt is stored, and
CAN asks KOR's consent to release its copy to DEU. `prepare`, `start`, `seed_documents`,
`exchange` and `commands` are separate so that a test can run the seeding path and the
printed commands without the forever-serving part.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cix.demo_cast import NATIONS, Nation
from cix.demo_exchange import COPY, PURPOSE, exchange, pair, third_party_steps, wait_witnessed
from cix.errors import InputError

DEMO_ROOT = Path("demo-data")
MARKER = ".cix-demo"
BASE_PORT = 8741
PASSPHRASE = "cix demo passphrase, not a secret"  # noqa: S105 - a demo value, printed anyway
TOKEN_DAYS = 30


@dataclass
class DemoNode:
    """One seeded node: where it lives, where it listens, its people's API tokens."""

    nation: Nation
    data_dir: Path
    port: int
    node_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)
    consents: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The node's base URL."""
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class DemoCommand:
    """A command the demo prints: what it shows, its argv, environment and expected exit."""

    title: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    exit_code: int

    def shell(self) -> str:
        """The command as a user types it in a POSIX shell."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there on loopback, else a free ephemeral port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise InputError("no free loopback port")


def _fresh_root(root: Path) -> None:
    if root.exists():
        if any(root.iterdir()) and not (root / MARKER).exists():
            raise InputError(f"{root}: exists, is not empty and is not a cix demo directory")
        shutil.rmtree(root)
    root.mkdir(parents=True, mode=0o700)
    (root / MARKER).write_text("created by `python -m cix.demo`; deleted on the next run\n")


def demo_environ() -> dict[str, str]:
    """The environment the demo's nodes run with (the key passphrase, unattended)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIX_")}
    env["CIX_PASSPHRASE"] = PASSPHRASE
    return env


def _seed_registry(node_dir: Path, nation: Nation, now: datetime) -> dict[str, str]:
    """Register the nation's cast; return an API token for each person."""
    from cix.node.roles import SYSTEM
    from cix.node.schemas import (
        MembershipIn,
        OrganisationIn,
        PersonIn,
        ProgrammeIn,
        RegistryClearance,
    )
    from cix.node.service import Node

    node = Node.open(node_dir, environ=demo_environ())
    reg = node.registry
    expires = now + timedelta(days=730)
    try:
        for org in nation.orgs:
            facility = (
                RegistryClearance(level=org.facility, party=nation.party, expires=expires)
                if org.facility
                else None
            )
            reg.create_organisation(
                SYSTEM,
                OrganisationIn(
                    id=org.id,
                    name=org.name,
                    kind="contractor" if org.kind == "contractor" else "government",
                    party=nation.party,
                    facility_clearance=facility,
                ),
            )
        for programme_id, title in nation.programmes:
            reg.create_programme(
                SYSTEM, ProgrammeIn(id=programme_id, title=title, party=nation.party)
            )
        tokens: dict[str, str] = {}
        for member in nation.people:
            clearance = (
                RegistryClearance(level=member.clearance, party=nation.party, expires=expires)
                if member.clearance
                else None
            )
            reg.create_person(
                SYSTEM,
                PersonIn(
                    id=member.id,
                    name=member.name,
                    organisation=member.org,
                    nationalities=[nation.party],
                    clearance=clearance,
                    briefed_at=now - timedelta(days=30),
                    briefed_until=now + timedelta(days=335),
                    roles=list(member.roles),
                ),
            )
            for programme_id in member.programmes:
                reg.grant_membership(
                    SYSTEM,
                    MembershipIn(
                        person=member.id,
                        programme=programme_id,
                        valid_until=now + timedelta(days=365),
                        justification="demonstration: works on the programme",
                    ),
                )
            actor = reg.actor_for(member.id)
            token, _ = node.api_tokens.create(
                actor, "cix demo", ttl=TOKEN_DAYS * 86400, now=node.clock()
            )
            tokens[member.id] = token
        return tokens
    finally:
        node.close()


def _write_client_config(path: Path, url: str, token: str) -> Path:
    from cix.cli.client_http import ClientConfig, save_config

    return save_config(ClientConfig(url=url, token=token), {"CIX_CLIENT_CONFIG": str(path)})


def prepare(
    root: Path = DEMO_ROOT, *, nations: Sequence[Nation] = NATIONS, base_port: int = BASE_PORT
) -> list[DemoNode]:
    """Recreate `root` and initialise and seed one node per nation (nothing served yet).

    Nodes listen on `base_port`, `base_port + 1` … where those are free; `base_port=0` takes
    ephemeral ports (tests, so that no leftover server on a fixed port can answer for them).
    """
    from cix.node.service import init_node

    root = root.resolve()
    _fresh_root(root)
    now = datetime.now(UTC)
    nodes = []
    for i, nation in enumerate(nations):
        data_dir = root / nation.party.lower()
        created = init_node(
            data_dir,
            party=nation.party,
            agreements=nation.agreements,
            admin="root",
            environ=demo_environ(),
        )
        port = free_port(base_port + i if base_port else 0)
        node = DemoNode(nation, data_dir, port, created.settings.node_id)
        node.tokens = _seed_registry(data_dir, nation, now)
        for person, token in node.tokens.items():
            path = root / "clients" / f"{nation.party.lower()}-{person}.toml"
            node.clients[person] = _write_client_config(path, node.url, token)
        nodes.append(node)
    pair(nodes, demo_environ())
    return nodes


def cix_executable() -> str:
    """How the printed commands call cix: the venv's script, relative where possible."""
    script = Path(sys.executable).parent / "cix"
    if not script.exists():
        return "cix"
    with contextlib.suppress(ValueError):
        return "./" + str(script.relative_to(Path.cwd()))
    return str(script)


def start(
    nodes: Sequence[DemoNode], *, log_dir: Path | None = None, workers: int = 1
) -> list[subprocess.Popen[bytes]]:
    """Serve each node with `cix serve` (`workers` processes each); return once all answer
    health."""
    import httpx

    processes: list[subprocess.Popen[bytes]] = []
    try:
        for node in nodes:
            log = (log_dir or node.data_dir) / "serve.log"
            with log.open("ab") as handle:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                        [
                            sys.executable,
                            "-m",
                            "cix.cli.main",
                            "serve",
                            "--dir",
                            str(node.data_dir),
                            "--port",
                            str(node.port),
                            "--workers",
                            str(workers),
                        ],
                        env=demo_environ(),
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 60
        for node, process in zip(nodes, processes, strict=True):
            while True:
                if process.poll() is not None:
                    raise InputError(
                        f"the {node.nation.party} node stopped at start-up "
                        f"(exit {process.returncode}); see {node.data_dir / 'serve.log'}"
                    )
                try:
                    answer = httpx.get(f"{node.url}/api/v1/health", timeout=2)
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    # Another server may have taken the port between its choice and our
                    # bind; its answer must not pass for this node's.
                    if answer.json().get("node") != node.node_id:
                        raise InputError(
                            f"port {node.port} is served by another process, not the "
                            f"{node.nation.party} node; stop it or choose other ports"
                        )
                    break
                if time.monotonic() > deadline:
                    raise InputError(f"the {node.nation.party} node did not answer in 60 s")
                time.sleep(0.1)
    except BaseException:
        stop(processes)
        raise
    return processes


def stop(processes: Sequence[subprocess.Popen[bytes]], *, timeout: float = 10) -> None:
    """Stop the nodes: SIGTERM (uvicorn shuts down cleanly), SIGKILL after `timeout`."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def seed_documents(nodes: Sequence[DemoNode]) -> bool:
    """Upload each nation's sample documents through the REST API, as their originators.

    False if the node has no documents API yet (this build predates it): nothing uploaded.
    """
    from cix.cli.client_http import ClientConfig, ClientSession, NodeProblem

    for node in nodes:
        for doc in node.nation.documents:
            config = ClientConfig(url=node.url, token=node.tokens[doc.by])
            with ClientSession(config) as session:
                try:
                    response = session.request(
                        "POST",
                        "/documents",
                        params={"label": doc.label, "title": doc.title},
                        content=doc.text.encode("utf-8"),
                        headers={"Content-Type": "text/plain; charset=utf-8"},
                    )
                except NodeProblem as problem:
                    if problem.status == 404 and not node.documents:
                        return False
                    raise InputError(
                        f"{node.nation.party}: seeding {doc.key!r} failed: {problem}"
                    ) from None
            node.documents[doc.key] = str(response.json()["id"])
    return True


def commands(nodes: Sequence[DemoNode], out_dir: Path) -> list[DemoCommand]:
    """The commands the demo prints, on the Canadian node (the first): a permit, a denial
    and its reasons in the audit log, and `cix audit verify`."""
    can = nodes[0]
    cix = cix_executable()

    def as_(person: str) -> dict[str, str]:
        return {"CIX_CLIENT_CONFIG": str(_display(can.clients[person]))}

    if "acoustics" not in can.documents:
        return [
            DemoCommand(
                "the registry as the PSPC contract security officer sees it",
                (cix, "registry", "people", "list"),
                as_("pspc-cso"),
                0,
            )
        ]
    doc = can.documents["acoustics"]
    return [
        *_single_node_commands(can, cix, doc, out_dir, as_),
        *_federated_commands(nodes, cix, out_dir),
    ]


def _single_node_commands(
    can: DemoNode,
    cix: str,
    doc: str,
    out_dir: Path,
    as_: Callable[[str], dict[str, str]],
) -> list[DemoCommand]:
    return [
        DemoCommand(
            "permit: a cleared engineer of a contractor with a facility clearance opens a "
            "SECRET//CPSP document",
            (cix, "docs", "open", doc, "-o", str(_display(out_dir / "acoustics-tide-eng.txt"))),
            as_("tide-eng"),
            0,
        ),
        DemoCommand(
            "denial: the same document for an engineer whose company has no facility "
            "clearance; the node answers one opaque refusal",
            (cix, "docs", "open", doc, "-o", str(_display(out_dir / "acoustics-northfab.txt"))),
            as_("northfab-eng"),
            1,
        ),
        DemoCommand(
            "the denial's reasons, as the node's security officer reads them in the audit log",
            (cix, "audit", "tail", "--dir", str(_display(can.data_dir)), "-n", "1"),
            {},
            0,
        ),
        DemoCommand(
            "the Canadian node's audit log verifies",
            (cix, "audit", "verify", "--dir", str(_display(can.data_dir))),
            {},
            0,
        ),
    ]


def _federated_commands(nodes: Sequence[DemoNode], cix: str, out_dir: Path) -> list[DemoCommand]:
    """The exchange, step by step: KOR's design received at CAN with its receipt, opened by
    a cleared member and refused to an uncleared contractor; CAN's release to DEU refused,
    KOR's consent, the release allowed and DEU's copy opened by a cleared TKMS engineer;
    every node's log verifies."""
    by_party = {n.nation.party: n for n in nodes}
    can, kor, deu = by_party.get("CAN"), by_party.get("KOR"), by_party.get("DEU")
    if can is None or kor is None or COPY not in can.documents:
        return []
    copy = can.documents[COPY]

    def as_(node: DemoNode, person: str) -> dict[str, str]:
        return {"CIX_CLIENT_CONFIG": str(_display(node.clients[person]))}

    steps = [
        DemoCommand(
            "KOR's transmissions: the CPSP design went to CAN and CAN's signed receipt is stored",
            (cix, "transmissions", "list"),
            as_(kor, "dapa-pm"),
            0,
        ),
        DemoCommand(
            "permit: at CAN, a cleared CPSP engineer opens the copy received from KOR",
            (cix, "docs", "open", copy, "-o", str(_display(out_dir / "cpsp-design-tide.txt"))),
            as_(can, "tide-eng"),
            0,
        ),
        DemoCommand(
            "denial: the same copy for the contractor without a facility clearance",
            (cix, "docs", "open", copy, "-o", str(_display(out_dir / "cpsp-design-nf.txt"))),
            as_(can, "northfab-eng"),
            1,
        ),
    ]
    consent = can.consents.get("release-to-deu")
    if deu is not None and consent is not None:
        transmit = (cix, "docs", "transmit", copy, "--to", "DEU", "--purpose", PURPOSE)
        steps += [
            DemoCommand(
                "refused: CAN releases KOR's information to DEU, a third party to kor-can, "
                "without KOR's consent",
                transmit,
                as_(can, "pspc-cso"),
                1,
            ),
            DemoCommand(
                "KOR's security authority sees CAN's request for consent",
                (cix, "consents", "list"),
                as_(kor, "dcc-nsa"),
                0,
            ),
            DemoCommand(
                "KOR consents, for that document, that party and that purpose only",
                (cix, "consents", "approve", consent, "--conditions", "no further release"),
                as_(kor, "dcc-nsa"),
                0,
            ),
            DemoCommand(
                "CAN's node permits the release under KOR's consent (used once, audited) "
                "and sends it with the chain (KOR's identity vouched for by CAN, KOR's "
                "signed consent); DEU's node checks it and answers the signed receipt",
                (*transmit, "--consent", consent, "--wait", "60"),
                as_(can, "pspc-cso"),
                0,
            ),
            *(
                DemoCommand(*step)
                for step in third_party_steps(
                    cix, _display(deu.clients["tkms-eng"]), _display(out_dir / "tkms-copy.txt")
                )
            ),
        ]
    steps += _witnessing_commands(kor, can, cix)
    for node in (kor, can, *((deu,) if deu is not None else ())):
        steps.append(
            DemoCommand(
                f"{node.nation.party}'s audit log records every step, and verifies, up to "
                "the sizes its peers cosigned",
                (cix, "audit", "verify", "--dir", str(_display(node.data_dir))),
                {},
                0,
            )
        )
    return steps


def _witnessing_commands(kor: DemoNode, can: DemoNode, cix: str) -> list[DemoCommand]:
    """Each node's audit log as its peers cosigned it: KOR's by CAN's node, CAN's by KOR's
    and DEU's (checkpoints exchanged at start and after every message)."""
    return [
        DemoCommand(
            f"{node.nation.party}'s audit checkpoints, cosigned by {peers}'s node"
            " (tlog-cosignature/v1, verified under each peer's pinned audit key)",
            (cix, "audit", "cosignatures", "--dir", str(_display(node.data_dir))),
            {},
            0,
        )
        for node, peers in ((kor, "CAN"), (can, "KOR's and DEU"))
    ]


def _display(path: Path) -> Path:
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(Path.cwd())
    return path


def _print_summary(nodes: Sequence[DemoNode], cmds: Sequence[DemoCommand]) -> None:
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    out.print("[bold]cix demonstration: three federated national nodes[/bold]\n")
    out.print("Peerings: KOR-CAN under kor-can, CAN-DEU under can-deu.\n")
    for node in nodes:
        where = _display(node.data_dir)
        out.print(f"[bold]{node.nation.party}[/bold]  {node.url}/api/v1  (data: {where})")
        out.print(f"      OpenAPI: {node.url}/api/v1/openapi.json")
        for doc_key, doc_id in node.documents.items():
            out.print(f"      document {doc_key}: {doc_id}", markup=False)
    out.print("\n[bold]Sample API tokens[/bold] (also in demo-data/clients/<party>-<person>.toml):")
    for node in nodes:
        for person, token in node.tokens.items():
            out.print(f"  {node.nation.party} {person:13} {token}", markup=False)
    out.print("\n[bold]Try[/bold]:")
    for cmd in cmds:
        out.print(f"\n# {cmd.title} (exit {cmd.exit_code})", markup=False)
        out.print(cmd.shell(), markup=False)
    out.print("\nServing until Ctrl-C.")


@contextlib.contextmanager
def running(root: Path = DEMO_ROOT) -> Iterator[tuple[list[DemoNode], list[DemoCommand]]]:
    """Prepare, serve and seed the demo; stop the nodes on exit."""
    nodes = prepare(root)
    processes = start(nodes)
    try:
        if not seed_documents(nodes):
            print("note: this node has no documents API yet; no documents were seeded")
        else:
            exchange(nodes)
            wait_witnessed(nodes)
        yield nodes, commands(nodes, root / "out")
    finally:
        stop(processes)


def _stop_on_signals() -> None:
    """Turn the first SIGTERM, SIGINT or SIGHUP into KeyboardInterrupt, which stops the
    nodes; ignore every later one, so that shutdown finishes.

    `make demo` stopped with SIGTERM (or Ctrl-C twice) delivers a second signal while the
    nodes are being stopped: raised there, it would abandon the rest of them serving.
    Installed first thing, before any node starts: Python's default for SIGTERM ends the
    process without running the code that stops them. SIGINT explicitly too: started in the
    background of a non-interactive shell, Python inherits SIGINT ignored.
    """
    stopping = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def on_signal(_signum: int, _frame: object) -> None:
        for signum in stopping:
            signal.signal(signum, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in stopping:
        signal.signal(signum, on_signal)


def main() -> int:
    """Run the demonstration until Ctrl-C or SIGTERM; the nodes stop whatever else arrives."""
    _stop_on_signals()
    try:
        with contextlib.suppress(KeyboardInterrupt), running() as (nodes, cmds):
            (DEMO_ROOT / "out").mkdir(exist_ok=True)
            _print_summary(nodes, cmds)
            sys.stdout.flush()
            while True:
                time.sleep(3600)
    except InputError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    print("\nnodes stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
