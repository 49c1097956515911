"""``python -m provenance.cli``: the same as the ``provenance`` command."""

from provenance.cli import main

main()
