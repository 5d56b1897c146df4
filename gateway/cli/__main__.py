"""``python -m gateway.cli`` — the same as the ``ansinh`` script (used by the dev stack)."""

from gateway.cli import main

main()
