"""The `nocai` command tree: every command documented with an example, every `--help` working, and the README's
generated CLI reference and settings table matching the code.

The tree is walked through each group's ``commands`` mapping rather than ``isinstance(..., click.Group)``:
typer vendors its own copy of click (``typer._click``), whose classes are not the ``click`` package's.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer
from pydantic import AliasChoices

from ai_service.cli.app import app, run
from ai_service.cli.docs_commands import cli_reference, iter_commands, settings_reference
from ai_service.config import Settings
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"


def walk(command: Any, prefix: str = "nocai") -> list[tuple[str, Any]]:
    """Every command of the tree as (full name, command), depth first, sorted like ``iter_commands``."""
    found: list[tuple[str, Any]] = [(prefix, command)]
    subcommands = getattr(command, "commands", None) or {}
    for name in sorted(subcommands):
        found.extend(walk(subcommands[name], f"{prefix} {name}"))
    return found


ROOT = typer.main.get_command(app)
TREE = walk(ROOT)
NAMES = [name for name, _ in TREE]

# What the guide and the storage layer promise; the tree may hold more.
EXPECTED = {
    "nocai",
    "nocai db",
    "nocai db migrate",
    "nocai db status",
    "nocai db init",
    "nocai db verify",
    "nocai db stats",
    "nocai db reindex",
    "nocai db rollback",
    "nocai db repair",
    "nocai db backup",
    "nocai db restore",
    "nocai db build-schema",
    "nocai db set-embedding-model",
    "nocai db url",
    "nocai db env",
    "nocai db psql",
    "nocai db start",
    "nocai db stop",
    "nocai db info",
    "nocai docs",
    "nocai docs cli",
    "nocai docs settings",
    "nocai docs readme",
}


def env_name(field_name: str) -> str:
    """The environment variable a Settings field is read from (its alias, else prefix + NAME)."""
    field = Settings.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return f"{Settings.model_config.get('env_prefix', '')}{field_name}".upper()


def test_tree_holds_every_command() -> None:
    missing = sorted(EXPECTED - set(NAMES))
    assert not missing, f"commands missing from the tree: {missing}"


@pytest.mark.parametrize(("name", "command"), TREE, ids=NAMES)
def test_every_command_has_an_example(name: str, command: Any) -> None:
    help_text = command.help or ""
    assert help_text.strip(), f"{name} has no help text"
    assert "Example:" in help_text, f"{name}: its help has no 'Example:' line"
    example = help_text.split("Example:", 1)[1].strip()
    assert example.split()[0] in {"nocai", "psql", "eval", "python"}, f"{name}: odd example {example!r}"


@pytest.mark.parametrize("name", NAMES)
def test_help_exits_zero(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = run([*name.split()[1:], "--help"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"Usage: {name} "), out
    assert "Example:" in out


def test_iter_commands_walks_the_whole_tree() -> None:
    assert [name for name, _ in iter_commands(ROOT)] == NAMES


def test_cli_reference_documents_every_command() -> None:
    reference = cli_reference(typer.main.get_command(app))
    for name in NAMES[1:]:
        assert f"#### `{name}`" in reference, f"{name} is not in the CLI reference"
    for option in ("`--dry-run`", "`--method`", "`--concurrently`", "`--backup`", "`--no-backup`", "`--yes`"):
        assert option in reference, f"{option} is not in the CLI reference"
    assert "- `VERSION` (argument): Migration number to roll back" in reference


def test_settings_reference_lists_every_setting() -> None:
    table = settings_reference()
    for field_name in Settings.model_fields:
        assert f"| `{env_name(field_name)}` |" in table, f"{env_name(field_name)} is not in the settings table"


# ------------------------------------------------------------------------------------------------------
# README.md
# ------------------------------------------------------------------------------------------------------


def readme_text() -> str:
    if not README.exists():
        pytest.fail(
            f"{README} does not exist: it must embed the generated CLI reference and settings table between "
            "<!-- nocai:begin cli --> / <!-- nocai:end cli --> and <!-- nocai:begin settings --> / "
            "<!-- nocai:end settings --> (write the markers, then run `nocai docs readme`)"
        )
    return README.read_text(encoding="utf-8")


def generated_section(text: str, name: str) -> str:
    begin, end = f"<!-- nocai:begin {name} -->", f"<!-- nocai:end {name} -->"
    for marker in (begin, end):
        if text.count(marker) != 1:
            pytest.fail(
                f"README.md must contain {marker!r} exactly once (found {text.count(marker)}): add the "
                f"{begin} / {end} markers and run `nocai docs readme`"
            )
    start, stop = text.index(begin) + len(begin), text.index(end)
    if stop < start:
        pytest.fail(f"README.md: {end!r} comes before {begin!r}")
    return text[start:stop]


def test_readme_embeds_current_cli_reference() -> None:
    section = generated_section(readme_text(), "cli")
    assert section == "\n" + cli_reference(typer.main.get_command(app)), (
        "README.md's CLI reference is out of date: run `nocai docs readme`"
    )


def test_readme_embeds_current_settings_table() -> None:
    section = generated_section(readme_text(), "settings")
    assert section == "\n" + settings_reference(), "README.md's settings table is out of date: run `nocai docs readme`"


def test_readme_names_every_setting() -> None:
    text = readme_text()
    missing = [env_name(f) for f in Settings.model_fields if env_name(f) not in text]
    assert not missing, f"README.md does not mention: {', '.join(missing)}"
