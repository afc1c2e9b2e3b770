"""Resolving the settings: defaults < `cix.toml` < environment < flags, secrets by reference."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cix.settings.declared import CONFIG_FILE, SETTINGS, Secret, Setting, Settings, SettingsError

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# Secret settings that may be written inline when they hold no password (a URL or a path).
_URL_SETTINGS = frozenset({"database_url", "audit_log"})


def _resolve_reference(value: str, where: str, data_dir: Path, environ: Mapping[str, str]) -> str:
    if value.startswith("$env:"):
        name = value[len("$env:") :]
        if not name or name not in environ:
            raise SettingsError(f"{where}: environment variable {name!r} is not set")
        return environ[name]
    if value.startswith("$file:"):
        path = Path(value[len("$file:") :])
        if not path.is_absolute():
            path = data_dir / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SettingsError(f"{where}: cannot read secret file {path}: {exc.strerror}") from exc
    raise SettingsError(
        f"{where}: a secret is given by reference only ($env:NAME or $file:PATH), never inline"
    )


def _audit_address(value: str, database_url: str, data_dir: Path) -> str:
    if value:
        if "://" in value:
            return value
        path = Path(value)
        return str(path if path.is_absolute() else data_dir / path)
    if database_url.startswith("postgresql"):
        return database_url
    return str(data_dir / "audit" / "log.db")


def _inline_password(url: str) -> bool:
    return bool(re.match(r"^[a-z0-9+]+://[^/@]*:[^/@]*@", url))


def _coerce(setting: Setting, raw: object, where: str, *, from_text: bool) -> Any:
    kind = setting.kind
    if kind == "int":
        if from_text and isinstance(raw, str):
            try:
                raw = int(raw.strip(), 10)
            except ValueError:
                raise SettingsError(f"{where}: {raw!r} is not an integer") from None
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise SettingsError(f"{where}: expected an integer, got {type(raw).__name__}")
        if setting.minimum is not None and raw < setting.minimum:
            raise SettingsError(f"{where}: {raw} is below the minimum {setting.minimum}")
        if setting.maximum is not None and raw > setting.maximum:
            raise SettingsError(f"{where}: {raw} is above the maximum {setting.maximum}")
        return raw
    if kind == "bool":
        if from_text and isinstance(raw, str):
            lowered = raw.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise SettingsError(f"{where}: {raw!r} is not true or false")
            raw = lowered in ("true", "1")
        if not isinstance(raw, bool):
            raise SettingsError(f"{where}: expected true or false, got {type(raw).__name__}")
        return raw
    if kind == "list":
        if from_text and isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise SettingsError(f"{where}: expected a list of strings")
        for item in raw:
            _check_text(setting, item, where)
        if len(set(raw)) != len(raw):
            raise SettingsError(f"{where}: duplicate entries")
        return tuple(raw)
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected a string, got {type(raw).__name__}")
    if kind == "str":
        _check_text(setting, raw, where)
    return raw


def _check_text(setting: Setting, value: str, where: str) -> None:
    if setting.choices and value not in setting.choices:
        raise SettingsError(f"{where}: {value!r} is not one of {', '.join(setting.choices)}")
    if setting.pattern and not re.fullmatch(setting.pattern, value):
        raise SettingsError(f"{where}: {value!r} does not match {setting.pattern}")


def read_config_file(data_dir: Path) -> dict[str, object]:
    """The raw table of `cix.toml` in `data_dir`, every key checked against the registry."""
    path = data_dir / CONFIG_FILE
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(
            f"{path}: no configuration file; run `cix init --dir {data_dir}` first"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    for key in table:
        if key not in _BY_NAME:
            raise SettingsError(f"{path}: unknown setting {key!r}")
    return table


def load_settings(
    data_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Resolve every setting for the node in `data_dir`: defaults < file < environment < flags.

    `overrides` carries CLI flags (None values are ignored). Raises `SettingsError` naming the
    source and the setting for anything unknown, mistyped, out of bounds or inline-secret.
    """
    env = dict(os.environ if environ is None else environ)
    data_dir = data_dir.resolve()
    file_table = read_config_file(data_dir)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    config_path = data_dir / CONFIG_FILE
    for setting in SETTINGS:
        value: Any = setting.default
        source = "default"
        if setting.name in file_table:
            where = f"{config_path}: {setting.name}"
            raw = file_table[setting.name]
            if setting.kind == "secret":
                if not isinstance(raw, str):
                    raise SettingsError(f"{where}: expected a string reference")
                if raw and not raw.startswith("$"):
                    if setting.name in _URL_SETTINGS and not _inline_password(raw):
                        value = raw  # a URL without a password is not a secret
                    else:
                        _resolve_reference(raw, where, data_dir, env)
                else:
                    value = _resolve_reference(raw, where, data_dir, env) if raw else ""
            else:
                value = _coerce(setting, raw, where, from_text=False)
            source = "file"
        if setting.env in env:
            where = f"environment {setting.env}"
            value = _coerce(setting, env[setting.env], where, from_text=True)
            source = "env"
        if setting.kind == "secret" and setting.env + "_FILE" in env:
            where = f"environment {setting.env}_FILE"
            value = _resolve_reference("$file:" + env[setting.env + "_FILE"], where, data_dir, env)
            source = "env"
        if overrides and overrides.get(setting.name) is not None:
            value = _coerce(
                setting, overrides[setting.name], f"option {setting.cli_flag}", from_text=True
            )
            source = "flag"
        if value is None:
            raise SettingsError(f"{config_path}: setting {setting.name!r} is required")
        if setting.kind == "list" and isinstance(value, list):
            value = tuple(value)
        values[setting.name] = value
        sources[setting.name] = source
    party = values["party"]
    node_id = values["node_id"] or f"cix-{party.lower()}"
    database_url = values["database_url"] or f"sqlite:///{data_dir / 'cix.db'}"
    blob_dir = Path(values["blob_dir"])
    if not blob_dir.is_absolute():
        blob_dir = data_dir / blob_dir
    if values["max_page_size"] < values["page_size"]:
        raise SettingsError("max_page_size is below page_size")
    if values["workers"] > values["auth_failure_limit"]:
        # Each worker allows its share of the limit: every worker needs at least one.
        raise SettingsError(
            f"workers ({values['workers']}) is above auth_failure_limit "
            f"({values['auth_failure_limit']}): each worker allows a share of the limit"
        )
    values.update(
        node_id=node_id,
        database_url=Secret(database_url),
        blob_dir=blob_dir,
        passphrase=Secret(values["passphrase"]),
        audit_log=Secret(_audit_address(values["audit_log"], database_url, data_dir)),
        token_issuer=values["token_issuer"] or f"urn:cix:{node_id}",
    )
    return Settings(data_dir=data_dir, sources=sources, **values)


def write_config(data_dir: Path, values: Mapping[str, object]) -> Path:
    """Write `cix.toml` in `data_dir` from `values`, each checked against the registry first.

    Secret settings must be references. The file is written to a temporary name and renamed,
    so a reader never sees half of it.
    """
    import tomli_w

    table: dict[str, object] = {}
    for name, value in values.items():
        setting = _BY_NAME.get(name)
        if setting is None:
            raise SettingsError(f"unknown setting {name!r}")
        if setting.kind == "secret":
            plain_url = name in _URL_SETTINGS and isinstance(value, str)
            if plain_url and not _inline_password(str(value)):
                table[name] = value
                continue
            if not isinstance(value, str) or (value and not value.startswith(("$env:", "$file:"))):
                raise SettingsError(f"{name}: a secret is written by reference only")
            table[name] = value
        else:
            coerced = _coerce(setting, value, name, from_text=False)
            table[name] = list(coerced) if isinstance(coerced, tuple) else coerced
    path = data_dir / CONFIG_FILE
    tmp = path.with_suffix(".toml.tmp")
    with tmp.open("wb") as handle:
        tomli_w.dump(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return path


def check_value(name: str, value: object) -> object:
    """Validate one value for the setting `name` as the config file would; return it coerced."""
    try:
        setting = _BY_NAME[name]
    except KeyError:
        raise SettingsError(f"unknown setting {name!r}") from None
    return _coerce(setting, value, name, from_text=False)
