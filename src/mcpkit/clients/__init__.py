"""Connect AI clients to mcpkit: their config files, entry shapes and the connect service."""
