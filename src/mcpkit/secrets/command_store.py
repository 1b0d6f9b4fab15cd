"""The command secret store (``secrets.store = "command"``): an external provider.

mcpkit runs a program the user configured (``pass``, a vault CLI, a company tool)
for each operation. The settings hold argv templates; in every element ``{name}`` is
replaced by the storage key, and the argv is executed directly, never through a
shell, so a key cannot inject anything (storage keys also never start with ``-``,
see :mod:`.base`). For example, with ``pass``::

    [secrets]
    store = "command"
    get_command = ["pass", "show", "mcpkit/{name}"]
    set_command = ["pass", "insert", "--multiline", "--force", "mcpkit/{name}"]
    delete_command = ["pass", "rm", "--force", "mcpkit/{name}"]

Contract with the provider:

* ``get_command`` prints the value on stdout; one trailing newline is stripped (so a
  value that itself ends with a newline loses it). Any non-zero exit means "not
  found": providers do not agree on how to say "missing" versus "broken", so mcpkit
  cannot tell them apart. The provider's stderr (never its stdout) is kept in a
  debug log message for diagnosis.
* ``set_command`` reads the value on **stdin**. The value is never put in argv (other
  users can read ``/proc/*/cmdline``) nor in the environment. Without a
  ``set_command`` the store is read-only.
* ``delete_command`` removes the entry; :meth:`CommandStore.delete` first runs
  ``get_command`` to learn whether there was anything to remove.
* ``list_command`` prints one storage key per line; without it ``keys()`` is None.
  Lines that are not valid storage keys are skipped.

Each run has a time limit (10 s by default); a provider that is missing, not
executable, too slow, or fails on ``set``/``delete``/``list`` raises
:class:`~mcpkit.errors.SecretStoreError` with a hint.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.base import read_only_error, validate_key, validate_value
from mcpkit.secrets.redact import Redactor, safe_quote

log = logging.getLogger(__name__)

PLACEHOLDER = "{name}"
DEFAULT_TIMEOUT = 10.0

_CONFIG_HINT = (
    "set the argv templates in config.toml, e.g. "
    'get_command = ["pass", "show", "mcpkit/{name}"] under [secrets]'
)


class CommandStore:
    """Secrets kept by an external program, called once per operation."""

    name = "command"

    def __init__(
        self,
        *,
        get_command: Sequence[str],
        set_command: Sequence[str] = (),
        delete_command: Sequence[str] = (),
        list_command: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._get = _check_template("get_command", get_command, required=True)
        self._set = _check_template("set_command", set_command)
        self._delete = _check_template("delete_command", delete_command)
        self._list = list(list_command)
        self._environ = dict(environ) if environ is not None else None
        self._timeout = timeout

    @property
    def read_only(self) -> bool:
        """True when no ``set_command`` is configured."""
        return not self._set

    def get(self, key: str) -> str | None:
        """The provider's stdout for ``key`` (one trailing newline stripped), or None."""
        validate_key(key)
        done = self._run(self._get, key, action=f"read secret {key!r}")
        if done.returncode != 0:
            log.debug(
                "secret provider exited %d for %r (taken as not found): %s",
                done.returncode,
                key,
                safe_quote(done.stderr.decode("utf-8", "replace"), Redactor()),
            )
            return None
        try:
            value = done.stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretStoreError(
                f"cannot read secret {key!r}: the provider printed bytes that are not UTF-8",
                hint="check the provider's output by hand: "
                + shlex.join(self._render(self._get, key)),
            ) from None
        value = value.removesuffix("\n")
        return value or None

    def set(self, key: str, value: str) -> None:
        """Run ``set_command`` with ``value`` on stdin."""
        validate_key(key)
        if not self._set:
            raise read_only_error(
                "command",
                hint="configure secrets.set_command (it reads the value on stdin), e.g. "
                '["pass", "insert", "--multiline", "--force", "mcpkit/{name}"]',
            )
        data = validate_value(value)
        action = f"store secret {key!r}"
        done = self._run(self._set, key, action=action, stdin=data)
        if done.returncode != 0:
            raise self._failed(action, done, Redactor([value]))

    def delete(self, key: str) -> bool:
        """Run ``delete_command`` if the provider has ``key``; False if it has not."""
        validate_key(key)
        if not self._set:
            raise read_only_error("command", hint="remove the secret with the provider's own tool")
        if not self._delete:
            raise SecretStoreError(
                f"cannot delete secret {key!r}: secrets.delete_command is not configured",
                hint="set secrets.delete_command in config.toml, e.g. "
                '["pass", "rm", "--force", "mcpkit/{name}"]',
            )
        if self.get(key) is None:
            return False
        action = f"delete secret {key!r}"
        done = self._run(self._delete, key, action=action)
        if done.returncode != 0:
            raise self._failed(action, done, Redactor())
        return True

    def keys(self) -> list[str] | None:
        """The keys ``list_command`` prints, sorted; None without a ``list_command``."""
        if not self._list:
            return None
        action = "list secrets"
        done = self._run(self._list, None, action=action)
        if done.returncode != 0:
            raise self._failed(action, done, Redactor())
        found: set[str] = set()
        for line in done.stdout.decode("utf-8", "replace").splitlines():
            candidate = line.strip()
            if not candidate:
                continue
            try:
                found.add(validate_key(candidate))
            except SecretStoreError:
                log.debug("secret provider listed %r, which is not a storage key", candidate)
        return sorted(found)

    def describe(self) -> str:
        """The provider's get command, and whether the store is read-only."""
        suffix = " (read-only)" if self.read_only else ""
        return f"external command {shlex.join(self._get)}{suffix}"

    @staticmethod
    def _render(template: Sequence[str], key: str | None) -> list[str]:
        if key is None:
            return list(template)
        return [part.replace(PLACEHOLDER, key) for part in template]

    def _run(
        self,
        template: Sequence[str],
        key: str | None,
        *,
        action: str,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        argv = self._render(template, key)
        try:
            return subprocess.run(
                argv,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                env=self._environ,
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SecretStoreError(
                f"cannot {action}: the secret provider {argv[0]!r} was not found",
                hint=f"install {argv[0]!r} or fix the command in config.toml ([secrets])",
                code="secret-store-unavailable",
            ) from exc
        except subprocess.TimeoutExpired:
            # Not chained: the exception carries the partial stdout, which may be the value.
            raise SecretStoreError(
                f"cannot {action}: the secret provider {argv[0]!r} did not finish"
                f" within {self._timeout:g} s",
                hint="check that it does not wait for input (unlock gpg-agent or log in to"
                f" the vault first); try it by hand: {shlex.join(argv)}",
                code="secret-store-timeout",
            ) from None
        except OSError as exc:
            raise SecretStoreError(
                f"cannot {action}: the secret provider {argv[0]!r} could not be started:"
                f" {exc.strerror or exc}",
                hint=f"check that {argv[0]!r} is an executable program",
                code="secret-store-unavailable",
            ) from exc

    @staticmethod
    def _failed(
        action: str, done: subprocess.CompletedProcess[bytes], redactor: Redactor
    ) -> SecretStoreError:
        stderr = safe_quote(done.stderr.decode("utf-8", "replace"), redactor)
        detail = f": {stderr}" if stderr else ""
        return SecretStoreError(
            f"cannot {action}: the secret provider exited with status {done.returncode}{detail}",
            hint=f"try the provider by hand: {shlex.join(map(str, done.args))}",
        )


def _check_template(setting: str, template: Sequence[str], *, required: bool = False) -> list[str]:
    argv = list(template)
    if not argv:
        if required:
            raise SecretStoreError(
                f'secrets.store is "command" but secrets.{setting} is not set',
                hint=_CONFIG_HINT,
                code="secret-store-config",
            )
        return argv
    if not any(PLACEHOLDER in part for part in argv):
        raise SecretStoreError(
            f"secrets.{setting} {shlex.join(argv)!r} has no {PLACEHOLDER} placeholder,"
            " so every secret would share one entry",
            hint=_CONFIG_HINT,
            code="secret-store-config",
        )
    return argv
