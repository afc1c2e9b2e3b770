"""cix init / serve / token: set up and run a national node, issue local bearer tokens."""

from __future__ import annotations

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
) -> None:
    """Create a node data directory, or upgrade the database schema of an existing one."""
    from cix.node.service import init_node

    result = init_node(
        data_dir,
        party=party,
        agreements=tuple(agreement or ()),
        database_url=database_url,
        admin=admin,
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


def serve(
    data_dir: DirOption,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port to listen on.")] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Database URL (overrides the file).")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="Log level.")] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes serving the node (one per core is typical)."),
    ] = None,
) -> None:
    """Run the node's API until interrupted (unattended: secrets from the environment)."""
    from cix.node.service import Node
    from cix.node.serving import ServeClaim

    overrides = {
        "host": host,
        "port": port,
        "database_url": database_url,
        "log_level": log_level,
        "workers": workers,
    }
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
            temporary, orphans = node.documents.recover()
            if temporary or orphans:
                typer.echo(
                    f"recovered: {temporary} partial uploads and {orphans} orphan blobs removed"
                )
            if settings.workers > 1:
                node.close()  # the supervisor serves nothing itself
        except BaseException:
            node.close()
            raise
        if settings.workers == 1:
            _serve_here(node)
        else:
            from cix.node.workers import supervise

            supervise(
                settings,
                overrides=overrides,
                workers=settings.workers,
                inherit=claim.file_descriptors,
                echo=typer.echo,
            )
    finally:
        claim.release()


def _serve_here(node: Any) -> None:
    """Serve `node` in this process (one worker)."""
    import uvicorn

    from cix.api.app import create_app
    from cix.node.serving import configure_logging, tune_collector

    settings = node.settings
    configure_logging(settings.log_level)
    try:
        typer.echo(f"cix node {settings.node_id} serving on http://{settings.host}:{settings.port}")
        tune_collector()
        uvicorn.run(
            create_app(node),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=settings.access_log,
            server_header=False,
            proxy_headers=False,
        )
    finally:
        node.close()


@token_app.command("issue")
def token_issue(
    data_dir: DirOption,
    user: Annotated[str, typer.Option("--user", help="Person id the token names (sub).")],
    ttl: Annotated[int, typer.Option("--ttl", help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a bearer token for a registered person, signed by the built-in issuer."""
    from cix.errors import InputError
    from cix.node.auditing import AuditEvent
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
            AuditEvent(
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


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `cix` app."""
    app.command("init")(init)
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    from cix.cli.client_registry import register_tokens

    register_tokens(token_app)
