"""`python -m fxgen`: the command line."""

from fxgen.cli import run

run()
