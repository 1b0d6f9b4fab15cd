"""The OAuth 2.1 client of mcpkit, per the MCP authorization spec (2025-11-25).

- :mod:`.discovery`: 401 challenge → protected resource metadata (RFC 9728) →
  authorization server metadata (RFC 8414 / OpenID discovery), PKCE S256 required.
- :mod:`.registration`: dynamic client registration (RFC 7591) or a configured client id.
- :mod:`.flow` and :mod:`.callback`: authorization code + PKCE with a loopback listener,
  ``state`` and ``iss`` checked, resource indicators (RFC 8707).
- :mod:`.credentials`: tokens and clients in the secret store, per server and scope.
- :mod:`.broker`: the gateway's token broker (an ``httpx.Auth`` that refreshes).
- :mod:`.revoke`: RFC 7009 revocation, then local removal.
- :mod:`.service`: what ``mcpkit oauth`` calls.
"""
