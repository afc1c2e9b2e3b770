"""cix keys …: node key pairs (a KEM pair and a signing pair per directory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

keys_app = typer.Typer(help="Generate and show node key pairs.", no_args_is_help=True)

_KEMS = ("x25519", "mlkem768-x25519", "rsa-2048")
_SIGNS = ("ed25519", "ml-dsa-65")


def passphrase(*, confirm: bool = False) -> bytes:
    """The key passphrase from CIX_PASSPHRASE / CIX_PASSPHRASE_FILE, else a hidden prompt."""
    import os

    from cix.keys import passphrase_from_environment

    def prompt() -> str:
        value: str = typer.prompt(
            "Key passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
        return value

    return passphrase_from_environment(os.environ, prompt)


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=option)
    return value


@keys_app.command("generate")
def generate(
    directory: Annotated[Path, typer.Option("--dir", help="Directory for the key files.")],
    kem: Annotated[
        str, typer.Option(help="Key encapsulation: x25519, mlkem768-x25519 or rsa-2048.")
    ] = "mlkem768-x25519",
    sign: Annotated[str, typer.Option(help="Signature: ed25519 or ml-dsa-65.")] = "ed25519",
) -> None:
    """Generate kem.key/kem.pub and sign.key/sign.pub in DIR, private keys encrypted."""
    from cix.keys import (
        KemAlgorithm,
        SignatureAlgorithm,
        generate_kem,
        generate_signing,
        write_key_pair,
    )

    kem_alg = KemAlgorithm(_choice(kem, _KEMS, "--kem"))
    sign_alg = SignatureAlgorithm(_choice(sign, _SIGNS, "--sign"))
    secret = passphrase(confirm=True)
    kem_key, sign_key = generate_kem(kem_alg), generate_signing(sign_alg)
    write_key_pair(directory, kem_key, sign_key, secret)
    typer.echo(f"kem  {kem_key.kid}")
    typer.echo(f"sign {sign_key.kid}")


@keys_app.command("show")
def show(
    directory: Annotated[Path, typer.Option("--dir", help="Directory holding the key files.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the kids, algorithms and public fingerprints of DIR's keys (no private material)."""
    from rich.console import Console
    from rich.table import Table

    from cix.keys import (
        KEM_PRIVATE,
        KEM_PUBLIC,
        SIGN_PRIVATE,
        SIGN_PUBLIC,
        KeyFileError,
        fingerprint,
        load_kem_public,
        load_verify_key,
    )

    if not (directory / KEM_PUBLIC).exists() and not (directory / SIGN_PUBLIC).exists():
        raise KeyFileError(f"{directory}: holds no {KEM_PUBLIC} or {SIGN_PUBLIC}")
    rows = []
    if (directory / KEM_PUBLIC).exists():
        k = load_kem_public(directory / KEM_PUBLIC)
        rows.append(("kem", k.algorithm.value, k.kid, fingerprint(k.public_bytes), KEM_PRIVATE))
    if (directory / SIGN_PUBLIC).exists():
        s = load_verify_key(directory / SIGN_PUBLIC)
        rows.append(("sign", s.algorithm.value, s.kid, fingerprint(s.public_bytes), SIGN_PRIVATE))
    if as_json:
        out = [
            {
                "use": use,
                "algorithm": alg,
                "kid": kid,
                "sha256": fp,
                "private_key_present": (directory / priv).exists(),
            }
            for use, alg, kid, fp, priv in rows
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("use", "algorithm", "kid", "public key SHA-256", "private key")
    for column in table.columns:
        column.overflow = "fold"  # kids and fingerprints are shown whole, never cut
    for use, alg, kid, fp, priv in rows:
        table.add_row(use, alg, kid, fp, "present" if (directory / priv).exists() else "absent")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add `cix keys generate` and `cix keys show`."""
    app.add_typer(keys_app, name="keys")
