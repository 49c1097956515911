"""DESIGN section 2 rules, enforced: who may import what, no circles, a documented CLI.

The import graph is built from every ``import`` statement in ``provenance/`` (including
those inside functions and ``TYPE_CHECKING`` blocks: a lazy import is still a dependency)
and followed transitively.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import click
import pytest

from provenance.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "provenance"
README = ROOT / "README.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


@cache
def _raw_imports(module: str) -> frozenset[tuple[str, str | None]]:
    """(module imported, name imported from it or None) for every import statement."""
    path = _modules()[module]
    out: set[tuple[str, str | None]] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update((a.name, None) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            out.update((target, a.name) for a in node.names)
    return frozenset(out)


@cache
def _edges(module: str) -> frozenset[str]:
    """The project modules ``module`` imports (a submodule imported by name counts)."""
    mods = _modules()
    out: set[str] = set()
    for target, name in _raw_imports(module):
        if name is not None and f"{target}.{name}" in mods:
            out.add(f"{target}.{name}")
        elif target in mods:
            out.add(target)
    out.discard(module)
    return frozenset(out)


def _closure(module: str) -> set[str]:
    seen: set[str] = set()
    stack = [module]
    while stack:
        for dep in _edges(stack.pop()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


def _external(modules: set[str]) -> set[str]:
    """Top-level third-party packages imported by ``modules``."""
    return {t.split(".")[0] for m in modules for t, _ in _raw_imports(m)}


# --- who may import which library ----------------------------------------------------------
OWNERS = {
    "sqlalchemy": r"provenance\.store(\..*)?",
    "alembic": r"provenance\.store\.migrate",
    "cryptography": r"provenance\.(keys|c2pa_certs)",
    "PIL": r"provenance\.(imaging(\..*)?|edits|iscc)",
    "imagehash": r"(?!)",  # pHash is computed here, bit-identical; imagehash checks it in tests
    "c2pa": r"provenance\.c2pa",
    "click": r"provenance\.cli(\..*)?",
    "starlette": r"provenance\.server(\..*)?",
    "uvicorn": r"provenance\.(server(\..*)?|cli\.serve_cmds)",
    "jinja2": r"provenance\.server(\..*)?",
    "httpx": r"provenance\.(client|witness)",
    "rich": r"provenance\.cli(\..*)?",
}


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_only_the_owning_modules_import_a_library(library: str) -> None:
    importers = {m for m in _modules() if library in _external({m})}
    assert all(re.fullmatch(OWNERS[library], m) for m in importers), importers


def test_no_import_circles() -> None:
    circles = sorted((a, b) for a in _modules() for b in _edges(a) if a < b and a in _closure(b))
    assert not circles, circles


def test_no_private_names_are_imported_across_modules() -> None:
    offenders = sorted(
        (m, f"{target}.{name}")
        for m in _modules()
        for target, name in _raw_imports(m)
        if name is not None
        and name.startswith("_")
        and not name.startswith("__")
        and target.startswith("provenance")
    )
    assert not offenders, offenders


def test_the_verifier_never_reaches_storage_or_the_network() -> None:
    deps = _closure("provenance.verify")
    assert not {d for d in deps if d.startswith(("provenance.store", "provenance.server"))}
    assert not {"provenance.ledger", "provenance.evidence", "provenance.client"} & deps
    assert "sqlalchemy" not in _external(deps | {"provenance.verify"})


def test_the_cli_uses_only_the_public_api() -> None:
    """CLI modules import ``provenance`` (the public API) and each other, nothing else of
    the project: never the store, SQLAlchemy or a private name."""
    for module in (
        m for m in _modules() if (m == "provenance.cli" or m.startswith("provenance.cli."))
    ):
        project = {t for t, _ in _raw_imports(module) if t.startswith("provenance")}
        allowed = {
            t
            for t in project
            if t == "provenance"
            or (t == "provenance.cli" or t.startswith("provenance.cli."))
            # `provenance serve` and the demo's service act run the server package's apps
            or (
                module in ("provenance.cli.serve_cmds", "provenance.cli.demo_service")
                and t == "provenance.server"
            )
        }
        assert project == allowed, (module, project - allowed)
        assert "sqlalchemy" not in _external({module})


def test_the_public_api_lists_what_it_exports() -> None:
    import provenance

    for name in provenance.__all__:
        assert getattr(provenance, name) is not None, name


def _imported_by(*args: str) -> set[str]:
    code = (
        "import sys, json\n"
        "from provenance.cli import cli\n"
        "try:\n"
        f"    cli.main(args={list(args)!r}, prog_name='provenance', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return set(json.loads(r.stderr.strip().splitlines()[-1]))


def test_help_and_offline_verify_never_load_the_database_layer(tmp_path: Path) -> None:
    assert not {m for m in _imported_by("--help") if m.startswith(("sqlalchemy", "alembic"))}
    bundle = tmp_path / "b.json"
    bundle.write_text("{}")
    loaded = _imported_by(
        "verify", str(tmp_path / "x.jpg"), "--bundle", str(bundle), "--trust-log-key", "x+1+2"
    )
    assert "provenance.bundle" in loaded  # it did get as far as reading the bundle
    assert not {m for m in loaded if m.startswith(("sqlalchemy", "alembic", "provenance.store"))}


def test_library_never_prints_or_exits() -> None:
    for module, path in _modules().items():
        if (
            module == "provenance.cli" or module.startswith("provenance.cli.")
        ) or module == "provenance.demo":
            continue
        src = path.read_text()
        assert not re.search(r"^\s*print\(", src, re.M), module
        assert "sys.exit(" not in src, module


def test_every_module_has_a_docstring() -> None:
    for module, path in _modules().items():
        assert ast.get_docstring(ast.parse(path.read_text())), module


def test_modules_stay_small() -> None:
    """One job per module (DESIGN section 2): the CLI and the facade under 500 lines."""
    sizes = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    for module in (
        "provenance.ledger",
        *[m for m in sizes if (m == "provenance.cli" or m.startswith("provenance.cli."))],
    ):
        assert sizes[module] < 500, (module, sizes[module])
    assert max(sizes.values()) < 900, max(sizes.items(), key=lambda kv: kv[1])


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
    writes_files = {"demo", "export"}
    if name in writes_files:
        return
    assert any(p.name == "as_json" for p in command.params), f"{name} lacks --json"
