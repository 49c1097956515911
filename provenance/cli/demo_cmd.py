"""``demo``: the whole story on a sample photograph, as real commands in a scratch folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from provenance.cli.base import cli, out


def _invoke(args: list[str]) -> int:
    """Run one command line in this process; its exit code."""
    try:
        cli.main(args=args, prog_name="provenance", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run in this folder and keep the files (default: a temporary folder).",
)
def demo(keep: Path | None) -> None:
    """Run the whole story on a sample photograph shipped with the package.

    \b
    Example:
      provenance demo
      provenance demo --keep demo-files
    """
    import provenance
    from provenance.cli.demo_service import service_act

    sys.exit(provenance.run_demo(keep, echo=out, invoke=_invoke, service=service_act))
