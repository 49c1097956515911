"""``diff``: what a recorded edit changed, as numbers and a picture (the page's twin)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import provenance
from provenance.cli.base import Env, cli, err, json_option, out, out_json, pass_env, safe


@cli.command("diff")
@click.argument("original", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("edited", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the difference map here (PNG): EDITED dimmed to grey, differing pixels in yellow.",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
@pass_env
def diff(
    env: Env, original: Path, edited: Path, output: Path | None, force: bool, as_json: bool
) -> None:
    """Replay EDITED's recorded edit on ORIGINAL and compare the result with EDITED.

    Finds EDITED's record in the ledger (by file or content digest), checks that ORIGINAL
    is the image of its parent and that the edit was recorded as replayable (`provenance
    edit`), replays the recorded actions on ORIGINAL and compares the replay with EDITED
    pixel by pixel: how many pixels differ and by how much at most. Nothing is recorded.

    Exit codes: 0 EDITED is exactly the replay, 1 it is not, 3 error (ORIGINAL is not the
    parent, the edit was only declared, an unreadable image), 4 EDITED is not in the ledger.

    \b
    Example:
      provenance diff photo.jpg photo-crop.png -o diff.png
      provenance diff photo.jpg photo-crop.png --json
    """
    if output is not None and output.exists() and not force:
        raise provenance.ProvenanceError(f"{output} exists", hint="pass --force to replace it")
    original_bytes = provenance.read_image_bytes(original)
    edited_bytes = provenance.read_image_bytes(edited)
    with env.ledger() as ledger:
        result = provenance.diff_edit(ledger, original_bytes, edited_bytes)
    d = result.diff
    if output is not None:
        provenance.write_atomic(output, d.map_png, overwrite=force)
    if as_json:
        obj = result.to_json()
        obj["original_file"], obj["edited_file"] = str(original), str(edited)
        obj["map"] = str(output) if output is not None else None
        out_json(obj)
    else:
        name = safe(edited)
        if d.exact:
            out(
                f"EXACT: {name} is the recorded edit (#{result.edited_index}) replayed on "
                f"{safe(original)}: 0 of {d.total:,} pixels differ"
            )
        else:
            share = 100 * d.differing / d.total if d.total else 0.0
            out(
                f"DIFFERS: {name} is not the recorded edit (#{result.edited_index}) replayed "
                f"on {safe(original)}: {d.differing:,} of {d.total:,} pixels differ "
                f"({share:.3g} %), largest difference {d.max_delta} of 255"
            )
            if d.replayed_size != d.edited_size:
                out(
                    "  the replay is {}x{} px, the edited image {}x{} px".format(
                        *d.replayed_size, *d.edited_size
                    )
                )
        if output is not None:
            err(f"difference map written to {safe(output)}")
    sys.exit(0 if d.exact else 1)
