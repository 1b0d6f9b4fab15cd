"""Where trust material lives on this machine, and the objects built from it.

::

    <config dir>/trust.toml            the trust policy (optional; see mcpkit.trust.policy)
    <config dir>/trust/signing.key     this machine's signing key (encrypted PKCS#8 PEM)
    <config dir>/trust/signing.pub     its public key (SPKI PEM, what cosign --key takes)
    <config dir>/trust/keys/NAME.pub   public keys trusted for verification

The passphrase of the signing key comes from ``MCPKIT_SIGNING_PASSPHRASE`` (or
cosign's ``COSIGN_PASSWORD``), else from a prompt; never from the command line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcpkit.app import App
from mcpkit.errors import ConflictError, InvalidInputError, NotFoundError, SigningKeyError
from mcpkit.oci.client import RegistryClient
from mcpkit.settings import atomic_write
from mcpkit.trust.keys import (
    PublicKey,
    SigningKey,
    load_public_key,
    load_signing_key,
    passphrase_from_env,
)
from mcpkit.trust.policy import TrustPolicy, load_policy

KEY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
#: The name keygen trusts this machine's own key under.
SELF_KEY = "self"


@dataclass(frozen=True)
class TrustPaths:
    """The trust files of one mcpkit home."""

    config_dir: Path

    @property
    def directory(self) -> Path:
        return self.config_dir / "trust"

    @property
    def signing_key(self) -> Path:
        return self.directory / "signing.key"

    @property
    def signing_pub(self) -> Path:
        return self.directory / "signing.pub"

    @property
    def keys_dir(self) -> Path:
        return self.directory / "keys"

    @property
    def policy(self) -> Path:
        return self.config_dir / "trust.toml"


def paths(app: App) -> TrustPaths:
    """The trust files of ``app``'s home."""
    return TrustPaths(app.locations.config_dir)


def registry_client(app: App) -> RegistryClient:
    """An OCI client with the user's docker credentials and ``[registry]`` settings."""
    settings = app.settings.registry
    return RegistryClient(environ=app.environ, insecure=settings.insecure, timeout=settings.timeout)


def policy(app: App) -> TrustPolicy:
    """The trust policy (the built-in one when ``trust.toml`` does not exist)."""
    where = paths(app)
    return load_policy(where.policy, keys_dir=where.keys_dir)


def signing_key(app: App, key: Path | None, prompt: Callable[[], bytes] | None) -> SigningKey:
    """The signing key at ``key`` (default: this machine's), unlocked.

    ``prompt`` asks for the passphrase when the environment has none.
    """
    path = key or paths(app).signing_key
    if not path.exists():
        raise SigningKeyError(
            f"no signing key at {path}",
            hint="create one with 'mcpkit trust keygen', or pass --key FILE",
        )
    passphrase = passphrase_from_env(app.environ)
    if passphrase is None:
        if prompt is None:
            raise SigningKeyError(
                f"the signing key {path} needs its passphrase",
                hint="set MCPKIT_SIGNING_PASSPHRASE, or run the command in a terminal",
            )
        passphrase = prompt()
    return load_signing_key(path, passphrase)


def trusted_keys(app: App) -> dict[str, PublicKey]:
    """The public keys in the trusted-keys folder, by name."""
    folder = paths(app).keys_dir
    keys: dict[str, PublicKey] = {}
    if folder.is_dir():
        for file in sorted(folder.glob("*.pub")):
            keys[file.stem] = load_public_key(file)
    return keys


def add_trusted_key(app: App, name: str, pem: bytes, *, origin: str, replace: bool) -> Path:
    """Trust the public key ``pem`` under ``name``; refuses private keys and garbage."""
    if not KEY_NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"key name {name!r} must be lower-case letters, digits, '.', '_' or '-'",
            hint="mcpkit trust key add team keys/team.pub",
        )
    if b"PRIVATE KEY" in pem:
        raise InvalidInputError(
            f"{origin} holds a private key; only public keys are trusted",
            hint="pass the .pub file (mcpkit trust keygen writes signing.pub)",
        )
    key = PublicKey.from_pem(pem, origin=origin)
    target = paths(app).keys_dir / f"{name}.pub"
    if target.exists() and not replace:
        if target.read_bytes() == key.pem:
            return target
        raise ConflictError(
            f"a trusted key named {name!r} exists already",
            hint=f"choose another name, or replace it: mcpkit trust key add {name} FILE --replace",
        )
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(target, key.pem, mode=0o644)
    return target


def remove_trusted_key(app: App, name: str) -> Path:
    """Stop trusting the key ``name``."""
    target = paths(app).keys_dir / f"{name}.pub"
    if not target.exists():
        raise NotFoundError(
            f"no trusted key named {name!r}",
            hint="list them with 'mcpkit trust key ls'",
            code="unknown-key",
        )
    target.unlink()
    return target
