"""`python -m kpireport` is the `kpireport` command."""

from .cli import main

main()
