"""Run the provenance CLI from a source checkout: ``python cli.py --help``."""

from provenance.cli import main

if __name__ == "__main__":
    main()
