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

from cix.cli import (
    client_destroy,
    client_docs,
    client_exchange,
    client_registry,
    client_registry_edit,
)
from cix.cli.terminal import JsonOption, consoles, print_json, printable

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
    app.command("whoami")(whoami)
    app.command("logout")(logout)
    app.add_typer(docs_app, name="docs")
    registry_app.add_typer(orgs_app, name="organisations")
    registry_app.add_typer(people_app, name="people")
    registry_app.add_typer(programmes_app, name="programmes")
    registry_app.add_typer(memberships_app, name="memberships")
    app.add_typer(registry_app, name="registry")
    client_docs.register(docs_app)
    client_destroy.register(docs_app)
    client_registry.register(orgs_app, people_app, programmes_app, memberships_app)
    client_registry_edit.register(orgs_app, people_app, programmes_app, memberships_app, docs_app)
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
    """Check a credential against a node and store the node URL and an API token (in the
    profile chosen by `cix --profile NAME`, else the default one)."""
    from cix.cli.client_http import (
        API_PREFIX,
        ClientConfig,
        ClientSession,
        check_token,
        check_url,
        profile_of,
        save_config,
    )
    from cix.node.tokens import API_TOKEN_PREFIX

    profile = profile_of()  # a bad name is refused before anything is asked or sent
    if token is None:
        token = typer.prompt("token", hide_input=True)
    config = ClientConfig(url=check_url(url), token=check_token(token))
    with ClientSession(config) as session:
        me = session.json("GET", "/me")
        if config.token.startswith(API_TOKEN_PREFIX):
            current = session.json("GET", "/tokens/current")
            config = ClientConfig(config.url, config.token, current.get("token_id"))
        else:
            body = {"name": name, "ttl_seconds": ttl_days * 86400}
            created = session.json("POST", "/tokens", json=body)
            config = ClientConfig(config.url, check_token(created["token"]), created["id"])
    path = save_config(config)
    out, _ = consoles()
    where = f"profile {profile}" if profile else "the default profile"
    out.print(
        f"logged in to {config.url}{API_PREFIX} as {printable(me.get('id'))} "
        f"({printable(me.get('name'))}); api token {printable(config.token_id or '?')} "
        f"stored in {path}, {where}",
        markup=False,
    )


def whoami(as_json: JsonOption = False) -> None:
    """Who the configured credential is, on which node, and which API token it is."""
    from cix.cli.client_http import load_config, profile_of, with_session

    config = load_config()
    me, current = with_session(lambda s: (s.json("GET", "/me"), s.json("GET", "/tokens/current")))
    shown = {
        "profile": profile_of(),
        "url": config.url,
        "person": me.get("id"),
        "name": me.get("name"),
        "organisation": me.get("organisation"),
        "roles": me.get("roles"),
        "token_id": current.get("token_id"),
        "expires_at": current.get("expires_at"),
    }
    if as_json:
        print_json(shown)
        return
    width = max(map(len, shown))
    for key, value in shown.items():
        text = ", ".join(value) if isinstance(value, list) else ("" if value is None else value)
        typer.echo(f"{key:<{width}}  {printable(text)}")


def logout() -> None:
    """Revoke the stored API token on the node and forget it (the chosen profile only)."""
    import os

    from cix.cli.client_http import (
        TOKEN_ENV,
        ClientSession,
        NodeRefused,
        load_config,
        profile_of,
        save_config,
    )
    from cix.errors import InputError

    if os.environ.get(TOKEN_ENV):
        raise InputError(f"{TOKEN_ENV} is set: logout forgets a stored token; unset it first")
    config = load_config()
    out, err = consoles()
    try:
        with ClientSession(config) as session:
            # The node says which token this is: a stored id could be stale or edited, and
            # an administrator may revoke others' tokens.
            token_id = session.json("GET", "/tokens/current").get("token_id")
            if token_id is None:
                err.print("a bearer token, not an API token: nothing to revoke", markup=False)
            else:
                session.request("DELETE", f"/tokens/{token_id}")
    except NodeRefused:
        # Already revoked or expired: nothing left to revoke, the entry still goes.
        err.print("the node no longer accepts this token; forgetting it", markup=False)
    path = save_config(None)
    profile = profile_of()
    where = f"profile {profile}" if profile else "the default profile"
    out.print(f"logged out of {config.url} ({where} removed from {path})", markup=False)
