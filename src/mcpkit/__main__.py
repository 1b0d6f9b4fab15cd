"""``python -m mcpkit``."""

from mcpkit.cli.main import main

main()
