"""Helpers of the secret store tests: backends set up inside a folder, a provider program.

Shared by conftest.py (the fixtures) and the test modules. Nothing here touches the
real HOME or the user's keyring: keyring backends are ``keyrings.alt`` file keyrings
pointed at a path the caller chooses, always passed in explicitly.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keyring.backend import KeyringBackend
from keyrings.alt.file import PlaintextKeyring

from mcpkit.secrets.base import SecretStore
from mcpkit.secrets.command_store import CommandStore
from mcpkit.secrets.env_store import EnvStore, env_var_for
from mcpkit.secrets.file_store import PASSPHRASE_ENV, EncryptedFileStore
from mcpkit.secrets.keyring_store import KeyringStore

#: A cheap scrypt cost for stores the conformance kit makes by the dozen; the
#: passphrase tests in test_secrets_file_store.py use the real default.
FAST_SCRYPT_N = 2**12
TEST_PASSPHRASE = "correct horse battery staple"


class PretendSecureKeyring(PlaintextKeyring):
    """A real file keyring that claims an OS keyring's priority.

    The test machine has no Secret Service (no D-Bus session, no unlocked login
    keyring), so nothing real can play "a secure OS keyring" for the ``auto`` key
    source; this stands in for one while still storing for real in a file.
    """

    priority = 5  # type: ignore[assignment]


# keyring registers every backend class it sees; keep this one out of its global
# registry so keyring's own backend discovery never finds it.
KeyringBackend._classes.discard(PretendSecureKeyring)  # type: ignore[attr-defined]


def make_plaintext_keyring(path: Path) -> PlaintextKeyring:
    """A ``keyrings.alt`` plaintext keyring whose file is ``path``."""
    backend = PlaintextKeyring()
    backend.file_path = str(path)
    return backend


def make_secure_keyring(path: Path) -> PretendSecureKeyring:
    """A keyring ``is_secure_keyring`` accepts, storing in ``path``."""
    backend = PretendSecureKeyring()
    backend.file_path = str(path)
    return backend


PROVIDER = textwrap.dedent(
    """
    # A tiny secret provider for the command store tests: values are files named by
    # the hex of the key. Every call appends its argv and environment to calls.log.
    import json, os, pathlib, sys, threading

    root = pathlib.Path(sys.argv[1])
    op = sys.argv[2]
    data = root / "data"
    with (root / "calls.log").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": sys.argv, "env": dict(os.environ)}) + "\\n")

    def entry(name):
        return data / name.encode().hex()

    if op == "get":
        path = entry(sys.argv[3])
        if not path.exists():
            sys.stderr.write("provider: no such entry\\n")
            sys.exit(1)
        sys.stdout.buffer.write(path.read_bytes() + b"\\n")
    elif op == "set":
        data.mkdir(exist_ok=True)
        entry(sys.argv[3]).write_bytes(sys.stdin.buffer.read())
    elif op == "delete":
        entry(sys.argv[3]).unlink()
    elif op == "list":
        for path in sorted(data.iterdir()) if data.exists() else []:
            print(bytes.fromhex(path.name).decode())
        print("not a valid/../key")
        print("")
    elif op == "fail":
        sys.stderr.write("provider: " + sys.stdin.read() + " rejected\\n")
        sys.exit(3)
    elif op == "hang":
        threading.Event().wait()
    """
)


@dataclass
class Provider:
    """The provider script and the folder it keeps its entries in."""

    root: Path
    script: Path

    def argv(self, op: str, *extra: str) -> list[str]:
        """The argv template running ``op`` of the provider."""
        return [sys.executable, str(self.script), str(self.root), op, *extra]

    def calls(self) -> list[dict[str, object]]:
        """Every recorded call: ``{"argv": [...], "env": {...}}``."""
        log = self.root / "calls.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    def store(self, **overrides: list[str]) -> CommandStore:
        """A command store driving this provider."""
        commands = {
            "get_command": self.argv("get", "{name}"),
            "set_command": self.argv("set", "{name}"),
            "delete_command": self.argv("delete", "{name}"),
            "list_command": self.argv("list"),
        } | overrides
        return CommandStore(**commands, environ={"PATH": os.environ.get("PATH", "")})


@dataclass
class Harness:
    """A store under test, and a way to put a value in it even when it is read-only."""

    store: SecretStore
    seed: Callable[[str, str], None]
    environ: dict[str, str] = field(default_factory=dict)


def _writable(store: SecretStore) -> Harness:
    return Harness(store, store.set)


def _file_keyfile(tmp_path: Path) -> Harness:
    return _writable(
        EncryptedFileStore(
            tmp_path / "data" / "secrets.enc",
            keyfile=tmp_path / "config" / "secrets.key",
            environ={},
            key_source="keyfile",
        )
    )


def _file_passphrase(tmp_path: Path) -> Harness:
    environ = {PASSPHRASE_ENV: TEST_PASSPHRASE}
    store = EncryptedFileStore(
        tmp_path / "data" / "secrets.enc",
        keyfile=tmp_path / "config" / "secrets.key",
        environ=environ,
        key_source="passphrase",
        scrypt_n=FAST_SCRYPT_N,
    )
    return Harness(store, store.set, environ)


def _file_keyring(tmp_path: Path) -> Harness:
    return _writable(
        EncryptedFileStore(
            tmp_path / "data" / "secrets.enc",
            keyfile=tmp_path / "config" / "secrets.key",
            environ={},
            key_source="keyring",
            keyring_backend=make_plaintext_keyring(tmp_path / "keyring" / "keyring.cfg"),
        )
    )


def _keyring(tmp_path: Path) -> Harness:
    return _writable(KeyringStore(make_plaintext_keyring(tmp_path / "keyring" / "keyring.cfg")))


def make_provider(tmp_path: Path) -> Provider:
    """Write the provider script into ``tmp_path`` and give it an empty folder."""
    root = tmp_path / "provider"
    root.mkdir()
    script = tmp_path / "provider.py"
    script.write_text(PROVIDER, encoding="utf-8")
    return Provider(root, script)


def _command(tmp_path: Path) -> Harness:
    return _writable(make_provider(tmp_path).store())


def _env(tmp_path: Path) -> Harness:
    environ: dict[str, str] = {"PATH": "/usr/bin", "MCPKIT_SECRETX": "not ours"}

    def seed(key: str, value: str) -> None:
        var = env_var_for(key)
        assert var is not None, f"the env store cannot hold {key!r}"
        environ[var] = value

    return Harness(EnvStore(environ), seed, environ)


BACKENDS: dict[str, Callable[[Path], Harness]] = {
    "file-keyfile": _file_keyfile,
    "file-passphrase": _file_passphrase,
    "file-keyring": _file_keyring,
    "keyring": _keyring,
    "command": _command,
    "env": _env,
}
