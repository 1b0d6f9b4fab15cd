"""OAuth credentials in the secret store: tokens and registered clients, per server and scope.

Storage keys (see :func:`mcpkit.secrets.base.validate_key`)::

    oauth/global/<server>/token              oauth/global/<server>/client
    oauth/profile/<profile>/<server>/token   oauth/profile/<profile>/<server>/client

Server ids may contain ``/`` (``io.github.foo/bar``) and ``_``, so ``<server>`` is the id
with ``_`` written ``_u`` and ``/`` written ``_s``: one segment, reversible, starting with
the id's first letter or digit. Values are JSON (:class:`TokenRecord`,
:class:`ClientRecord`). A profile's own credential wins over the global one, like secrets.

Nothing here is cached: the gateway's broker, ``mcpkit oauth authorize`` and other
gateways may write the same entries, so every read goes to the store.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from mcpkit.errors import SecretStoreError
from mcpkit.oauth.errors import authorize_command
from mcpkit.oauth.model import ClientRecord, TokenRecord
from mcpkit.secrets.base import SecretStore

#: The global scope.
GLOBAL = ""
_PREFIX = "oauth"
_KINDS = ("token", "client")

M = TypeVar("M", bound=BaseModel)


def encode_server(server: str) -> str:
    """One storage-key segment for a server id (reversible; ``/`` and ``_`` escaped)."""
    return server.replace("_", "_u").replace("/", "_s")


def decode_server(segment: str) -> str:
    """The server id of an :func:`encode_server` segment."""
    out: list[str] = []
    chars = iter(segment)
    for char in chars:
        if char != "_":
            out.append(char)
            continue
        escaped = next(chars, "")
        out.append({"u": "_", "s": "/"}.get(escaped, "_" + escaped))
    return "".join(out)


def credential_key(server: str, scope: str, kind: str) -> str:
    """The storage key of a server's ``token`` or ``client`` in ``scope``."""
    where = f"profile/{scope}" if scope else "global"
    return f"{_PREFIX}/{where}/{encode_server(server)}/{kind}"


def parse_credential_key(key: str) -> tuple[str, str, str] | None:
    """``(server, scope, kind)`` of one of our storage keys, else None."""
    parts = key.split("/")
    if len(parts) == 4 and parts[:2] == [_PREFIX, "global"] and parts[3] in _KINDS:
        return decode_server(parts[2]), GLOBAL, parts[3]
    if len(parts) == 5 and parts[:2] == [_PREFIX, "profile"] and parts[4] in _KINDS:
        return decode_server(parts[3]), parts[2], parts[4]
    return None


class CredentialStore:
    """Reads and writes OAuth credentials in a :class:`SecretStore`."""

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets

    def token(self, server: str, scope: str = GLOBAL) -> TokenRecord | None:
        """The tokens stored for ``server`` in ``scope``."""
        return self._read(server, scope, "token", TokenRecord)

    def client(self, server: str, scope: str = GLOBAL) -> ClientRecord | None:
        """The client registered (or configured) for ``server`` in ``scope``."""
        return self._read(server, scope, "client", ClientRecord)

    def resolve(self, server: str, profile: str) -> tuple[str, TokenRecord] | None:
        """The credential a server of ``profile`` uses: the profile's own, else the global one."""
        if profile:
            record = self.token(server, profile)
            if record is not None:
                return profile, record
        record = self.token(server, GLOBAL)
        return (GLOBAL, record) if record is not None else None

    def save_token(self, server: str, scope: str, record: TokenRecord) -> None:
        """Store (replace) the tokens of ``server`` in ``scope``."""
        self.secrets.set(credential_key(server, scope, "token"), record.model_dump_json())

    def save_client(self, server: str, scope: str, record: ClientRecord) -> None:
        """Store (replace) the client of ``server`` in ``scope``."""
        self.secrets.set(credential_key(server, scope, "client"), record.model_dump_json())

    def delete(self, server: str, scope: str = GLOBAL) -> bool:
        """Remove the tokens and the client of ``server`` in ``scope``; True if any was there."""
        removed = False
        for kind in _KINDS:
            removed = self.secrets.delete(credential_key(server, scope, kind)) or removed
        return removed

    def stored(self) -> list[tuple[str, str]] | None:
        """Every ``(server, scope)`` with stored tokens; None when the store cannot list."""
        keys = self.secrets.keys()
        if keys is None:
            return None
        found = {
            (parsed[0], parsed[1])
            for parsed in map(parse_credential_key, keys)
            if parsed is not None and parsed[2] == "token"
        }
        return sorted(found)

    def _read(self, server: str, scope: str, kind: str, model: type[M]) -> M | None:
        value = self.secrets.get(credential_key(server, scope, kind))
        if value is None:
            return None
        try:
            return model.model_validate_json(value)
        except ValidationError:
            where = f"profile {scope!r}" if scope else "the global scope"
            # The value may hold a token: say which entry, never what it holds.
            raise SecretStoreError(
                f"the stored OAuth {kind} of server {server!r} in {where} is unreadable",
                hint=f"authorize again (it replaces the entry): {authorize_command(server, scope)}",
                code="oauth-credential-corrupt",
            ) from None
