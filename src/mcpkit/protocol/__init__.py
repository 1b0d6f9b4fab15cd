"""JSON-RPC framing and the few MCP helpers the hot path needs."""
