"""`python -m fxgen`: the command line."""

from fxgen.cli import main

raise SystemExit(main())
