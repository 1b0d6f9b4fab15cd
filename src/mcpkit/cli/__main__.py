"""``python -m mcpkit.cli``."""

from mcpkit.cli.main import main

main()
