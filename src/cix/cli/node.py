"""cix init / serve / token: set up and run a national node, issue local bearer tokens."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

DirOption = Annotated[
    Path, typer.Option("--dir", help="The node's data directory.", file_okay=False)
]

token_app = typer.Typer(help="Bearer tokens from the node's built-in issuer.", no_args_is_help=True)


def init(
    data_dir: DirOption,
    party: Annotated[
        str | None,
        typer.Option("--party", help="ISO alpha-3 code of the nation this node serves."),
    ] = None,
    agreement: Annotated[
        list[str] | None,
        typer.Option("--agreement", help="An agreement the node holds (repeatable)."),
    ] = None,
    admin: Annotated[
        str | None,
        typer.Option("--admin", help="Register this person id as the first administrator."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Database URL to record (default: SQLite in the directory); "
            "a password only by reference ($env:NAME).",
        ),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Create the node's TLS key and self-signed certificate (keys/tls.key, "
            "keys/tls.crt) for mutual TLS with its peers, if it has none.",
        ),
    ] = False,
) -> None:
    """Create a node data directory, or upgrade the database schema of an existing one."""
    from cix.node.service import init_node

    result = init_node(
        data_dir,
        party=party,
        agreements=tuple(agreement or ()),
        database_url=database_url,
        admin=admin,
        tls=tls,
    )
    where = result.settings.data_dir
    if result.created:
        typer.echo(f"created node {result.settings.node_id} ({result.settings.party}) in {where}")
    elif result.revision_before == result.revision_after:
        typer.echo(f"{where}: database already at revision {result.revision_after}")
    else:
        typer.echo(
            f"{where}: database upgraded from revision {result.revision_before or 'none'} "
            f"to {result.revision_after}"
        )
    if result.tls_created:
        from cix.node.exchange.peers import tls_files

        typer.echo(f"created TLS certificate {tls_files(result.settings).cert}")
    elif tls:
        typer.echo(f"{where}: the node already has a TLS certificate")


def serve(data_dir: DirOption, **flags: Any) -> None:
    """Run the node's API until interrupted (unattended: secrets from the environment)."""
    from cix.node.datadir import check_private
    from cix.node.service import Node
    from cix.serving.claim import ServeClaim

    check_private(data_dir)

    overrides = dict(flags)
    # Opened (keys unlocked) even when workers serve: a wrong passphrase or a stale schema
    # is reported here, once, before any worker starts.
    node = Node.open(data_dir, overrides=overrides, unlock=True)
    settings = node.settings
    try:
        claim = ServeClaim(settings.data_dir, node.db)
    except BaseException:
        node.close()
        raise
    try:
        try:
            temporary, orphans = node.destruction.recover()
            if temporary or orphans:
                typer.echo(
                    f"recovered: {temporary} partial uploads and {orphans} orphan blobs removed"
                )
            if settings.workers > 1:
                from cix.serving.tls import uvicorn_tls_options

                uvicorn_tls_options(node)  # checked and the peers' bundle written, once
                node.close()  # the supervisor serves nothing itself
        except BaseException:
            node.close()
            raise
        if settings.workers == 1:
            from cix.serving.process import serve_in_process

            serve_in_process(node, echo=typer.echo)
        else:
            from cix.serving.workers import supervise

            supervise(
                settings,
                overrides=overrides,
                workers=settings.workers,
                inherit=claim.file_descriptors,
                echo=typer.echo,
            )
    finally:
        claim.release()


@token_app.command("issue")
def token_issue(
    data_dir: DirOption,
    user: Annotated[str, typer.Option("--user", help="Person id the token names (sub).")],
    ttl: Annotated[int, typer.Option("--ttl", help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a bearer token for a registered person, signed by the built-in issuer."""
    from cix.errors import InputError
    from cix.node.auditing import AuditRecord
    from cix.node.errors import Unauthenticated
    from cix.node.roles import SYSTEM
    from cix.node.service import Node

    node = Node.open(data_dir, unlock=True)
    try:
        if node.issuer is None:
            raise InputError(f"{data_dir}: the node uses an external issuer (token_jwks_url)")
        try:
            node.registry.actor_for(user)
        except Unauthenticated:
            raise InputError(f"no active person {user!r} in the registry of {data_dir}") from None
        now = node.clock()
        token = node.issuer.issue(user, ttl=ttl, now=now)
        node.audit.append(
            AuditRecord(
                type="credential.bearer-token",
                actor=SYSTEM.id,
                object=f"person:{user}",
                action="issue",
                decision="permit",
                time=now,
                details={"ttl": ttl},
            )
        )
        typer.echo(token)
    finally:
        node.close()


def _with_setting_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` one option per setting declared with `flag=True` (its help the
    declaration's first sentence), so the flags of `cix serve` are never written twice."""
    from cix.settings import SETTINGS

    params = [inspect.Parameter("data_dir", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    hints: dict[str, Any] = {"data_dir": DirOption, "return": None}
    params[0] = params[0].replace(annotation=DirOption)
    for setting in SETTINGS:
        if not setting.flag:
            continue
        python_type = int if setting.kind == "int" else str
        hint = Annotated[
            python_type | None,  # type: ignore[valid-type]  # built at run time
            typer.Option(setting.cli_flag, help=setting.help.split(". ")[0].rstrip(".") + "."),
        ]
        params.append(
            inspect.Parameter(
                setting.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint
            )
        )
        hints[setting.name] = hint
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = hints
    return command


serve = _with_setting_flags(serve)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `cix` app."""
    app.command("init")(init)
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    from cix.cli.client_registry import register_tokens

    register_tokens(token_app)
