"""`python -m deployspec` runs the CLI."""

from .cli import main

main()
