"""DESIGN section 2 rules, enforced: who may import what, and that the CLI is documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from provenance.cli import cli

PKG = Path(__file__).resolve().parents[1] / "provenance"
README = Path(__file__).resolve().parents[1] / "README.md"


def _imports(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _modules_importing(prefix: str) -> set[str]:
    return {
        p.stem
        for p in PKG.glob("*.py")
        if any(i == prefix or i.startswith(prefix + ".") for i in _imports(p))
    }


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("sqlalchemy", {"store", "migrate"}),
        ("alembic", {"migrate"}),
        ("cryptography", {"keys"}),
        ("PIL", {"imaging", "edits"}),
        ("imagehash", {"imaging"}),
    ],
)
def test_only_the_owning_module_imports_a_library(library: str, allowed: set[str]) -> None:
    assert _modules_importing(library) <= allowed


def test_verify_never_touches_the_database() -> None:
    for mod in ("verify",):
        imports = _imports(PKG / f"{mod}.py")
        assert not {
            i
            for i in imports
            if i in {"provenance.store", "provenance.ledger"} or i.startswith("sqlalchemy")
        }


def test_cli_never_imports_store_or_sqlalchemy() -> None:
    imports = _imports(PKG / "cli.py")
    assert "provenance.store" not in imports
    assert not any(i.startswith("sqlalchemy") for i in imports)


def test_library_never_prints_or_exits() -> None:
    for path in PKG.glob("*.py"):
        if path.stem in {"cli", "demo"}:
            continue
        src = path.read_text()
        assert not re.search(r"^\s*print\(", src, re.M), path.name
        assert "sys.exit(" not in src, path.name


def test_every_module_has_a_docstring() -> None:
    for path in PKG.glob("*.py"):
        assert ast.get_docstring(ast.parse(path.read_text())), path.name


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full + " "))
        else:
            out.append((full, cmd))
    return out


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_is_documented_with_an_example(name: str, command: click.Command) -> None:
    assert f"`{name}" in README.read_text(), f"README does not document `{name}`"
    assert command.help and "Example:" in command.help, f"{name} has no example"


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_read_commands_take_json(name: str, command: click.Command) -> None:
    writes_files = {"demo", "export", "keys generate"}
    if name in writes_files:
        return
    assert any(p.name == "as_json" for p in command.params), f"{name} lacks --json"
