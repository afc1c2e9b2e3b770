"""The CLI client of a node: `cix login`, `cix docs …`, `cix registry …`.

Credentials live in `credentials.toml` (mode 0600) under `$CIX_CONFIG_DIR` (default
`~/.config/cix`): the node URL and an API token created at login. Errors from the node
(RFC 9457 problems) map to exit codes like every other command: 2 for bad input, 1 for a
refusal, 3 for a node that failed or cannot be reached.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import httpx

docs_app = typer.Typer(
    help="Documents on your node: upload, list, show, open, derive, destroy.", no_args_is_help=True
)
registry_app = typer.Typer(
    help="The registry: organisations, people, programmes, memberships.", no_args_is_help=True
)
CHUNK = 1 << 20
KINDS = ("organisations", "people", "programmes", "memberships")


def _config_dir() -> Path:
    return Path(os.environ.get("CIX_CONFIG_DIR") or Path.home() / ".config" / "cix")


def _credentials() -> tuple[str, str]:
    import tomllib

    from cix.errors import InputError

    path = _config_dir() / "credentials.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return str(data["url"]).rstrip("/"), str(data["token"])
    except FileNotFoundError:
        raise InputError(f"{path}: not logged in; run `cix login --url URL`") from None
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path}: unreadable credentials ({exc}); run `cix login` again") from None


def _client(url: str | None = None, token: str | None = None) -> httpx.Client:
    import httpx

    if url is None or token is None:
        url, token = _credentials()
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(60.0)
    )


def _check(response: httpx.Response) -> httpx.Response:
    """Raise the cix error family of a problem response; return a successful one."""
    from cix.errors import InputError, PeerError, Refused, StorageError

    if response.is_success:
        return response
    try:
        problem = response.json()
        detail = str(problem.get("detail") or problem.get("title"))
        if problem.get("errors"):
            detail += ": " + "; ".join(
                f"{'/'.join(e.get('loc', []))}: {e.get('msg')}" for e in problem["errors"]
            )
    except ValueError:
        detail = response.text[:200]
    status = response.status_code
    if status == 401:
        raise InputError(f"the node did not accept your credentials: {detail}; run `cix login`")
    if status in (403, 429):
        raise Refused()
    if status < 500:
        raise InputError(f"the node refused the request ({status}): {detail}")
    if status == 503:
        raise StorageError(f"the node could not complete the request: {detail}")
    raise PeerError(f"the node failed ({status}): {detail}")


def _request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    import httpx

    from cix.errors import PeerError

    with _client() as client:
        try:
            return _check(client.request(method, path, **kwargs))
        except httpx.TransportError as exc:
            raise PeerError(f"cannot reach the node: {exc}") from None


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def login(
    url: Annotated[
        str, typer.Option("--url", help="The node's address, e.g. http://127.0.0.1:8740")
    ],
    token: Annotated[
        str | None,
        typer.Option("--token", help="A bearer token (default: $CIX_TOKEN, else prompted)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Name of the API token to create.")] = "cli",
) -> None:
    """Exchange a bearer token for an API token of this CLI and remember the node."""
    import httpx

    from cix.errors import PeerError

    bearer = token or os.environ.get("CIX_TOKEN") or typer.prompt("bearer token", hide_input=True)
    url = url.rstrip("/")
    try:
        with _client(url, bearer) as client:
            me = _check(client.get("/api/v1/me")).json()
            created = _check(client.post("/api/v1/tokens", json={"name": name})).json()
    except httpx.TransportError as exc:
        raise PeerError(f"cannot reach {url}: {exc}") from None
    import tomli_w

    directory = _config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "credentials.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        tomli_w.dump({"url": url, "token": created["token"]}, handle)
    typer.echo(
        f"logged in to {url} as {me['id']} (token {created['id']}, expires {created['expires_at']})"
    )


def _json_arg(value: str, what: str) -> str:
    from cix.errors import InputError

    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{what} {value}: {exc.strerror}") from None
    try:
        json.loads(value)
    except ValueError:
        raise InputError(f"{what}: not valid JSON (give the JSON text or @FILE)") from None
    return value


def _upload(path: Path, label: str, title: str | None, sources: list[str]) -> dict[str, Any]:
    from rich.progress import Progress

    from cix.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size

    def chunks(progress: Progress, task: Any) -> Iterator[bytes]:
        with path.open("rb") as handle:
            while data := handle.read(CHUNK):
                progress.advance(task, len(data))
                yield data

    params: list[tuple[str, str]] = [
        ("label", _json_arg(label, "--label")),
        ("title", title or path.name),
    ]
    params += [("derived_from", s) for s in sources]
    with Progress(transient=True) as progress:
        task = progress.add_task(f"sealing {path.name}", total=size)
        response = _request(
            "POST",
            "/api/v1/documents",
            params=params,
            content=chunks(progress, task),
            headers={"content-type": "application/octet-stream", "content-length": str(size)},
        )
    result: dict[str, Any] = response.json()
    return result


LabelOption = Annotated[str, typer.Option("--label", help="The label's JSON form, or @FILE.")]
TitleOption = Annotated[str | None, typer.Option("--title", help="Title (default: file name).")]


@docs_app.command("upload")
def docs_upload(
    path: Annotated[Path, typer.Argument(help="File to seal and upload.")],
    label: LabelOption,
    title: TitleOption = None,
) -> None:
    """Seal a file under a label on the node."""
    doc = _upload(path, label, title, [])
    typer.echo(f"{doc['id']}  {doc['banner']}  {doc['title']}")


@docs_app.command("derive")
def docs_derive(
    path: Annotated[Path, typer.Argument(help="The derived content.")],
    label: LabelOption,
    source: Annotated[list[str], typer.Option("--from", help="A source document (repeatable).")],
    title: TitleOption = None,
) -> None:
    """Upload a document derived from others (its label must dominate theirs)."""
    doc = _upload(path, label, title, source)
    typer.echo(f"{doc['id']}  {doc['banner']}  {doc['title']}  (from {', '.join(source)})")


@docs_app.command("list")
def docs_list(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Title contains.")] = None,
) -> None:
    """The documents you may read, newest first."""
    from rich.console import Console
    from rich.table import Table

    params: dict[str, Any] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    if query:
        params["q"] = query
    page = _request("GET", "/api/v1/documents", params=params).json()
    table = Table("id", "marking", "title", "size", "created")
    for doc in page["items"]:
        table.add_row(
            doc["id"], doc["banner"], doc["title"], str(doc["plaintext_size"]), doc["created_at"]
        )
    Console().print(table)
    if page["next_cursor"]:
        typer.echo(f"more: --cursor {page['next_cursor']}")


@docs_app.command("show")
def docs_show(doc_id: Annotated[str, typer.Argument(help="Document id.")]) -> None:
    """A document's register entry and label."""
    _print_json(_request("GET", f"/api/v1/documents/{doc_id}").json())


@docs_app.command("open")
def docs_open(
    doc_id: Annotated[str, typer.Argument(help="Document id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the content.")],
) -> None:
    """Decrypt a document you may read into a file; prints its marking."""
    from urllib.parse import unquote

    import httpx
    from rich.progress import Progress

    from cix.errors import InputError, PeerError

    if output.exists():
        raise InputError(f"{output}: exists; not overwriting")
    tmp = output.with_name(output.name + ".part")
    try:
        with _client() as client, client.stream("GET", f"/api/v1/documents/{doc_id}/content") as r:
            if not r.is_success:
                r.read()
                _check(r)
            total = int(r.headers.get("content-length", "0")) or None
            with tmp.open("xb") as out, Progress(transient=True) as progress:
                task = progress.add_task(f"opening {doc_id[:8]}", total=total)
                for chunk in r.iter_bytes(CHUNK):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
            marking = unquote(r.headers.get("cix-marking", ""))
            reader = r.headers.get("cix-reader", "")
    except httpx.TransportError as exc:
        tmp.unlink(missing_ok=True)
        raise PeerError(f"the transfer failed: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.rename(output)
    typer.echo(f"{marking}\nopened for {reader} -> {output}", err=True)


@docs_app.command("destroy")
def docs_destroy(
    doc_id: Annotated[str, typer.Argument(help="Document id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is destroyed.")],
) -> None:
    """Destroy a document you hold; prints the destruction certificate."""
    _print_json(
        _request("POST", f"/api/v1/documents/{doc_id}/destroy", json={"reason": reason}).json()
    )


@registry_app.command("list")
def registry_list(kind: Annotated[str, typer.Argument(help=" | ".join(KINDS))]) -> None:
    """List organisations, people, programmes or memberships you may see."""
    from rich.console import Console
    from rich.table import Table

    from cix.errors import InputError

    if kind not in KINDS:
        raise InputError(f"{kind!r} is not one of {', '.join(KINDS)}")
    items = _request("GET", f"/api/v1/{kind}").json()["items"]
    if not items:
        typer.echo(f"no {kind}")
        return
    columns = [c for c in items[0] if c not in ("created_at", "updated_at")]
    table = Table(*columns)
    for item in items:
        table.add_row(
            *(
                json.dumps(item[c]) if isinstance(item[c], dict | list) else str(item[c])
                for c in columns
            )
        )
    Console().print(table)


@registry_app.command("add")
def registry_add(
    kind: Annotated[str, typer.Argument(help=" | ".join(KINDS))],
    body: Annotated[str, typer.Argument(help="The entry as JSON, or @FILE.")],
) -> None:
    """Add an organisation, person, programme or membership (JSON as the API takes it)."""
    from cix.errors import InputError

    if kind not in KINDS:
        raise InputError(f"{kind!r} is not one of {', '.join(KINDS)}")
    text = _json_arg(body, "entry")
    _print_json(
        _request(
            "POST", f"/api/v1/{kind}", content=text, headers={"content-type": "application/json"}
        ).json()
    )


def register(app: typer.Typer) -> None:
    """Add the client commands to the `cix` app."""
    app.command("login")(login)
    app.add_typer(docs_app, name="docs")
    app.add_typer(registry_app, name="registry")
