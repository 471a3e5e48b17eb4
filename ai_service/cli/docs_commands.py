"""`nocai docs ...`: generate the README's CLI and settings reference from the code, so they cannot drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ai_service.config import Settings

docs_app = typer.Typer(
    help="Generate reference documentation from the code.\n\nExample: nocai docs cli",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def iter_commands(group: Any, prefix: str = "nocai") -> list[tuple[str, Any]]:
    """Every command of the tree as (full name, command), depth first, sorted.

    Duck-typed on purpose: typer ships its own copy of click, so isinstance checks against ``click`` fail.
    """
    found: list[tuple[str, Any]] = [(prefix, group)]
    children = getattr(group, "commands", None)
    if children:
        for name in sorted(children):
            found.extend(iter_commands(children[name], f"{prefix} {name}"))
    return found


def is_group(command: Any) -> bool:
    return getattr(command, "commands", None) is not None


def cli_reference(root: Any) -> str:
    """Markdown reference of every command under ``root`` (the ``nocai`` click command): help text and options."""
    lines: list[str] = []
    for name, command in iter_commands(root):
        if name == "nocai":
            continue
        lines.append(f"#### `{name}`\n")
        lines.append((command.help or "").strip() + "\n")
        params = [p for p in command.params if p.param_type_name in ("option", "argument") and p.name != "help"]
        if params and not is_group(command):
            for p in params:
                if p.param_type_name == "argument":
                    lines.append(f"- `{p.name.upper()}` (argument): {getattr(p, 'help', None) or ''}".rstrip(": "))
                else:
                    opts = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
                    lines.append(f"- {opts}: {p.help or ''}".rstrip())
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def settings_reference() -> str:
    """Markdown table of every setting: environment name, default, description."""
    rows = ["| Environment variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        env = "DATABASE_URL" if name == "database_url" else f"NOCAI_{name.upper()}"
        if field.default_factory is not None:
            default = "~/.local/share/nocai (per user)" if name == "data_dir" else "(computed)"
        else:
            default = "(unset)" if field.default is None else str(field.default)
        rows.append(f"| `{env}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows) + "\n"


@docs_app.command("cli")
def cli_cmd(ctx: typer.Context) -> None:
    """Print the CLI reference (Markdown) that the README embeds.

    Example: nocai docs cli > /tmp/cli.md
    """
    typer.echo(cli_reference(ctx.find_root().command), nl=False)


@docs_app.command("settings")
def settings_cmd() -> None:
    """Print the settings table (Markdown) that the README embeds.

    Example: nocai docs settings
    """
    typer.echo(settings_reference(), nl=False)


@docs_app.command("readme")
def readme_cmd(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if README.md is not up to date.")] = False,
) -> None:
    """Rewrite the generated sections of README.md (between the nocai:begin/end markers).

    Example: nocai docs readme --check
    """
    path = Path("README.md")
    text = path.read_text(encoding="utf-8")
    reference = cli_reference(ctx.find_root().command)
    updated = replace_section(replace_section(text, "cli", reference), "settings", settings_reference())
    if check:
        if updated != text:
            typer.echo("README.md is out of date: run `nocai docs readme`")
            raise typer.Exit(1)
        typer.echo("README.md is up to date")
        return
    path.write_text(updated, encoding="utf-8")
    typer.echo("README.md updated")


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- nocai:begin {name} -->", f"<!-- nocai:end {name} -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < 0:
        return text
    return text[: start + len(begin)] + "\n" + body + text[stop:]
