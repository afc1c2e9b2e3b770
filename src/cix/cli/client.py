"""cix login / docs / registry: the command-line client of a national node's REST API.

`cix login --url URL --token TOKEN` checks the credential against the node and stores the URL
and an API token (a bearer JWT given at login is exchanged for an API token) in the per-user
configuration file (mode 0600). The other commands use it: `cix docs upload|list|show|open|
derive|destroy` and `cix registry organisations|people|programmes|memberships list|add`.

Exit codes are `cix.cli.main`'s, the node's problems included (`cix.cli.client_http`): 2 bad
input (ours or the node's 4xx), 1 a refusal (401, 403, 429), 3 the node failed or could not
be reached.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cix.cli import client_destroy, client_docs, client_exchange, client_registry
from cix.cli.terminal import consoles, printable

docs_app = typer.Typer(help="Documents on the node: upload, list, open, derive, destroy.")
registry_app = typer.Typer(help="The node's registry: organisations, people, programmes.")
orgs_app = typer.Typer(help="Organisations (government bodies, contractor facilities).")
people_app = typer.Typer(help="People registered with the node.")
programmes_app = typer.Typer(help="Need-to-know programmes.")
memberships_app = typer.Typer(help="Time-bounded programme memberships.")
transmissions_app = typer.Typer(help="Documents transmitted to other parties' nodes.")
for _sub in (
    docs_app,
    registry_app,
    orgs_app,
    people_app,
    programmes_app,
    memberships_app,
    transmissions_app,
):
    _sub.info.no_args_is_help = True


def register(app: typer.Typer) -> None:
    """Add `cix login`, `cix docs …` and `cix registry …` to the `cix` app."""
    app.command("login")(login)
    app.add_typer(docs_app, name="docs")
    registry_app.add_typer(orgs_app, name="organisations")
    registry_app.add_typer(people_app, name="people")
    registry_app.add_typer(programmes_app, name="programmes")
    registry_app.add_typer(memberships_app, name="memberships")
    app.add_typer(registry_app, name="registry")
    client_docs.register(docs_app)
    client_destroy.register(docs_app)
    client_registry.register(orgs_app, people_app, programmes_app, memberships_app)
    app.add_typer(transmissions_app, name="transmissions")
    client_exchange.register(docs_app, transmissions_app)


def login(
    url: Annotated[str, typer.Option("--url", help="The node, e.g. http://127.0.0.1:8740.")],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="An API token (cix_…) or a bearer token from `cix token issue` "
            "(exchanged for an API token). Asked for when omitted.",
        ),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="Name of the API token created at login.")
    ] = "cix command line",
    ttl_days: Annotated[
        int, typer.Option("--days", min=1, max=366, help="Lifetime of that API token.")
    ] = 30,
) -> None:
    """Check a credential against a node and store the node URL and an API token."""
    from cix.cli.client_http import (
        API_PREFIX,
        ClientConfig,
        ClientSession,
        check_token,
        check_url,
        save_config,
    )
    from cix.node.tokens import API_TOKEN_PREFIX

    if token is None:
        token = typer.prompt("token", hide_input=True)
    config = ClientConfig(url=check_url(url), token=check_token(token))
    with ClientSession(config) as session:
        me = session.json("GET", "/me")
        if not config.token.startswith(API_TOKEN_PREFIX):
            body = {"name": name, "ttl_seconds": ttl_days * 86400}
            created = session.json("POST", "/tokens", json=body)
            config = ClientConfig(url=config.url, token=check_token(created["token"]))
    path = save_config(config)
    out, _ = consoles()
    out.print(
        f"logged in to {config.url}{API_PREFIX} as {printable(me.get('id'))} "
        f"({printable(me.get('name'))}); "
        f"credentials stored in {path}",
        markup=False,
    )
