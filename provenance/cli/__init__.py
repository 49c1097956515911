"""The command line: click commands grouped by family, over the public API only.

A thin layer: each command parses its arguments, calls the library (``import provenance``:
never the store, SQLAlchemy or a private name; tests/test_architecture.py checks it), and
renders text (:mod:`.render`) or JSON. Families: :mod:`.keys_cmds` (init, keys),
:mod:`.sign_cmds` (sign, edit, derive), :mod:`.verify_cmds` (verify, history, export),
:mod:`.log_cmds` (log ...), :mod:`.demo_cmd`; shared options, error mapping and output in
:mod:`.base`.
"""

from __future__ import annotations

from collections.abc import Sequence

from provenance.cli import demo_cmd, keys_cmds, log_cmds, sign_cmds, verify_cmds
from provenance.cli.base import cli

__all__ = ["cli", "main"]
_COMMANDS = (demo_cmd, keys_cmds, log_cmds, sign_cmds, verify_cmds)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="provenance")
