"""`python -m orecart` is the `orecart` command."""

from orecart.cli import main

main()
