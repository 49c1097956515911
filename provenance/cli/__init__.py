"""The command line: click commands grouped by family, over the public API only.

A thin layer: each command parses its arguments, calls the library (``import provenance``:
never the store, SQLAlchemy or a private name; tests/test_architecture.py checks it), and
renders text (:mod:`.render`) or JSON. Families: :mod:`.keys_cmds` (init, keys),
:mod:`.sign_cmds` (sign, edit, derive), :mod:`.verify_cmds` (verify, history, export),
:mod:`.log_cmds` (log ...), :mod:`.diff_cmd`, :mod:`.c2pa_cmds` (c2pa certs),
:mod:`.demo_cmd`; shared options, error mapping and output in :mod:`.base`.
"""

from __future__ import annotations

from collections.abc import Sequence

from provenance.cli import (
    c2pa_cmds,
    demo_cmd,
    diff_cmd,
    keys_cmds,
    log_cmds,
    serve_cmds,
    sign_cmds,
    verify_cmds,
)
from provenance.cli.base import cli

__all__ = ["cli", "main"]
_COMMANDS = (
    c2pa_cmds,
    demo_cmd,
    diff_cmd,
    keys_cmds,
    log_cmds,
    serve_cmds,
    sign_cmds,
    verify_cmds,
)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="provenance")
