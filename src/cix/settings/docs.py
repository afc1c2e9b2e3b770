"""docs/settings.md, generated from the declarations (`python -m cix.settings`)."""

from __future__ import annotations

from cix.settings.declared import CONFIG_FILE, SETTINGS, Setting


def _format_default(setting: Setting) -> str:
    if setting.default is None:
        return "(required)"
    if setting.kind == "list":
        return "`[" + ", ".join(f'"{x}"' for x in setting.default) + "]`"
    if setting.kind in ("str", "secret"):
        return f'`"{setting.default}"`'
    return f"`{setting.default}`"


def render_markdown() -> str:
    """The settings documentation (`docs/settings.md`), generated from the registry."""
    lines = [
        "# Node settings",
        "",
        "Generated from `cix.settings.SETTINGS` by `python -m cix.settings`; a test checks",
        "that this file matches the registry. Each setting can be given, lowest precedence",
        f"first, as a default, in `{CONFIG_FILE}` in the data directory, as an environment",
        "variable, or (where listed) as a flag of `cix serve`.",
        "",
        "Secret settings are never written inline in the configuration file: write",
        "`$env:NAME` or `$file:PATH` (relative to the data directory). In the environment",
        "give the value itself or `<VARIABLE>_FILE` naming a file that holds it.",
        "",
    ]
    for setting in SETTINGS:
        lines.append(f"## `{setting.name}`")
        lines.append("")
        lines.append(setting.help)
        lines.append("")
        lines.append(f"- type: {setting.kind}")
        lines.append(f"- default: {_format_default(setting)}")
        if setting.minimum is not None or setting.maximum is not None:
            lines.append(f"- bounds: {setting.minimum} to {setting.maximum}")
        if setting.choices:
            lines.append("- one of: " + ", ".join(f"`{c}`" for c in setting.choices))
        lines.append(f"- environment: `{setting.env}`")
        if setting.kind == "secret":
            lines.append(f"- environment (file): `{setting.env}_FILE`")
        if setting.flag:
            lines.append(f"- flag: `cix serve {setting.cli_flag}`")
        lines.append("")
    return "\n".join(lines)
