"""mcpkit: securely build, share and run MCP servers."""

__version__ = "0.1.0"
