"""`python -m deployspec` runs the CLI."""

from .cli import run

run()
