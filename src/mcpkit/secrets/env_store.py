"""The environment secret store (``secrets.store = "env"``): read-only variables.

For CI and containers, where secrets arrive as environment variables. The mapping
(injected; never ``os.environ`` read here) is consulted on every call.

Variable names
    ``global/<name>``        → ``MCPKIT_SECRET_<NAME>``
    ``profile/<p>/<name>``   → ``MCPKIT_SECRET_<P>___<NAME>`` (three underscores)

    where each part is upper-cased, ``.`` becomes ``__`` and ``-`` becomes ``_``
    (``_`` stays ``_``): ``global/github.token`` → ``MCPKIT_SECRET_GITHUB__TOKEN``,
    ``profile/dev/brave-search.api_key`` → ``MCPKIT_SECRET_DEV___BRAVE_SEARCH__API_KEY``.
    Keys of any other shape (``global/a/b``) have no variable and are never found.
    An empty variable counts as unset.

Going back (:meth:`EnvStore.keys`) is ambiguous, since several keys share a
variable; it is resolved so:

* case is lost, so keys are listed in lower case (``get`` of ``global/GitHub.Token``
  still finds ``MCPKIT_SECRET_GITHUB__TOKEN``);
* a run of underscores inside a part is read as many ``.`` as it has pairs, then one
  ``_`` if the count is odd: ``__`` is ``.`` (never ``__`` or ``--``) and a single
  ``_`` is ``_`` (never ``-``), so ``global/brave-search.api_key`` is listed as
  ``global/brave_search.api_key``;
* the first run of three or more underscores holds the profile separator: its first
  three underscores are the separator and the rest belong to the name. So a global
  name with ``_.`` or ``-.`` in it (``global/a_.b`` → ``MCPKIT_SECRET_A___B``) is
  listed as a profile key (``profile/a/b``).

``get`` is exact whatever the listing says: it encodes the key it is given. The
secrets service keeps its own index of names and reads them with ``get``; ``keys``
only helps it discover variables nobody registered.

A variable is listed only if the key it decodes to is valid and encodes back to the
same variable name, so every listed key can be read with ``get``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.base import read_only_error, validate_key

PREFIX = "MCPKIT_SECRET_"
_PROFILE_SEPARATOR = "___"
_UNDERSCORES = re.compile(r"_+")


def _encode_part(part: str) -> str:
    return part.upper().replace(".", "__").replace("-", "_")


def _decode_part(part: str) -> str:
    def runs(match: re.Match[str]) -> str:
        count = len(match.group())
        return "." * (count // 2) + "_" * (count % 2)

    return _UNDERSCORES.sub(runs, part.lower())


def env_var_for(key: str) -> str | None:
    """The variable that holds ``key``, or None for keys no variable can hold."""
    validate_key(key)
    parts = key.split("/")
    if len(parts) == 2 and parts[0] == "global":
        return PREFIX + _encode_part(parts[1])
    if len(parts) == 3 and parts[0] == "profile":
        return PREFIX + _encode_part(parts[1]) + _PROFILE_SEPARATOR + _encode_part(parts[2])
    return None


def key_for_env_var(var: str) -> str | None:
    """The storage key a variable name decodes to, or None if it is not one of ours."""
    if not var.startswith(PREFIX):
        return None
    rest = var[len(PREFIX) :]
    if not rest or rest != rest.upper():
        return None
    head, sep, tail = rest.partition(_PROFILE_SEPARATOR)
    key = (
        f"profile/{_decode_part(head)}/{_decode_part(tail)}"
        if sep
        else f"global/{_decode_part(rest)}"
    )
    try:
        validate_key(key)
    except SecretStoreError:
        return None
    return key if env_var_for(key) == var else None


class EnvStore:
    """Secrets read from ``MCPKIT_SECRET_*`` variables of an injected environment."""

    name = "env"
    read_only = True

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, key: str) -> str | None:
        """The variable's value, or None when unset or empty."""
        var = env_var_for(key)
        if var is None:
            return None
        return self._environ.get(var) or None

    def set(self, key: str, value: str) -> None:
        """Always raises: the environment is read-only."""
        raise read_only_error("environment", hint=self._hint(key, "export {var}=..."))

    def delete(self, key: str) -> bool:
        """Always raises: the environment is read-only."""
        raise read_only_error("environment", hint=self._hint(key, "unset {var}"))

    def keys(self) -> list[str] | None:
        """The keys of the non-empty ``MCPKIT_SECRET_*`` variables, sorted."""
        found = {
            key
            for var, value in self._environ.items()
            if value and (key := key_for_env_var(var)) is not None
        }
        return sorted(found)

    def describe(self) -> str:
        """Where the values come from."""
        return f"environment variables {PREFIX}* (read-only)"

    @staticmethod
    def _hint(key: str, action: str) -> str:
        var = env_var_for(key)
        if var is None:
            return (
                "only keys 'global/<name>' and 'profile/<profile>/<name>' map to variables;"
                " or choose a writable store with 'mcpkit config set secrets.store file'"
            )
        return (
            f"{action.format(var=var)} in the environment mcpkit runs in,"
            " or choose a writable store with 'mcpkit config set secrets.store file'"
        )
