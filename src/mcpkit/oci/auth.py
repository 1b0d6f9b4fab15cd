"""Registry credentials from the user's docker config, and the bearer-token exchange.

What comes from oras-py (0.2.43) and what does not, and why:

* The token exchange of a ``WWW-Authenticate: Bearer`` challenge (``GET realm?service&scope``
  with optional Basic credentials, reading ``token``/``access_token``) is oras-py's
  ``TokenAuth.request_token``, run on our session so it gets our timeout and TLS settings.
  Challenge parameters are parsed with ``oras.auth.utils.parse_auth_header`` and Basic
  credentials encoded with ``get_basic_auth``.
* Docker config lookup is ours. oras-py reads only ``~/.docker/config.json`` through
  ``os.path.expanduser`` (it ignores ``DOCKER_CONFIG`` and always adds the real user's file),
  runs credential helpers with the process's own ``PATH`` and no timeout, and compares
  ``auths`` keys verbatim, so Docker Hub's ``https://index.docker.io/v1/`` key never matches.
  mcpkit must read everything from the ``environ`` it is given (tests and the gateway run
  with an isolated environment), so :class:`DockerCredentials` does what the docker CLI does:
  ``$DOCKER_CONFIG/config.json`` else ``$HOME/.docker/config.json``; ``credHelpers[host]``,
  then ``credsStore``, then the inline ``auths`` entry (a helper that has nothing for the host
  falls through to ``auths``, as oras-py does; docker would stop there).
* Token caching is ours: oras-py keeps one token per client and only refreshes on 403, while
  distribution answers 401 when a token lacks a scope, so a pull token would be replayed for
  a push forever. See :mod:`mcpkit.oci.transport`.

Identity tokens (``identitytoken`` / helper username ``<token>``, Docker Hub's OAuth refresh
tokens) are not exchanged; they are sent as Basic credentials, which such services refuse.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from oras.auth.token import TokenAuth
from oras.auth.utils import authHeader, get_basic_auth, parse_auth_header

from mcpkit.errors import InvalidInputError, RegistryError

#: What docker stores Docker Hub credentials under (and asks helpers for).
HUB_SERVER = "https://index.docker.io/v1/"
_HUB_HOSTS = ("index.docker.io", "docker.io", "registry-1.docker.io")
_NOT_FOUND = "credentials not found"


@dataclass(frozen=True)
class Credentials:
    """A username and secret for one registry, and where they came from (for messages)."""

    username: str
    secret: str = field(repr=False)
    source: str

    @property
    def basic(self) -> str:
        """The base64 ``user:secret`` of a Basic ``Authorization`` header."""
        encoded: str = get_basic_auth(self.username, self.secret)
        return encoded


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str  # "basic" or "bearer", lower-case
    realm: str | None = None
    service: str | None = None
    scope: str | None = None


def parse_challenge(header: str | None) -> Challenge | None:
    """Parse a registry's ``WWW-Authenticate`` header; None when absent or not Basic/Bearer."""
    if not header:
        return None
    scheme = header.strip().split(" ", 1)[0].lower()
    if scheme not in ("basic", "bearer"):
        return None
    parsed = parse_auth_header(header)
    return Challenge(scheme, parsed.realm, parsed.service, parsed.scope)


def fetch_token(
    session: requests.Session,
    challenge: Challenge,
    scope: str | None,
    credentials: Credentials | None,
    *,
    verify: bool | str,
) -> str | None:
    """Ask the challenge's token service for a token for ``scope``; None when it refuses.

    Transport failures propagate as ``requests`` exceptions for the caller to translate.
    """
    backend = TokenAuth()
    backend.session = session
    backend._tls_verify = verify
    if credentials is not None:
        backend._basic_auth = credentials.basic
    header = authHeader({"realm": challenge.realm, "service": challenge.service, "scope": scope})
    token: Any = backend.request_token(header)
    return token if isinstance(token, str) and token else None


def docker_config_path(environ: Mapping[str, str]) -> Path | None:
    """Where docker keeps its config for this environment (None without HOME/DOCKER_CONFIG)."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"]) / "config.json"
    if environ.get("HOME"):
        return Path(environ["HOME"]) / ".docker" / "config.json"
    return None


def _hostname(key: str) -> str:
    """docker's ``ConvertToHostname``: strip a scheme and any path from an ``auths`` key."""
    for prefix in ("http://", "https://"):
        key = key.removeprefix(prefix)
    return key.split("/", 1)[0]


class DockerCredentials:
    """Registry credentials as the docker CLI finds them, read from ``environ`` only.

    The config file is read on first use; helpers run only when a registry asks for
    credentials, with ``environ`` as their environment and a bounded run time.
    """

    def __init__(self, environ: Mapping[str, str], *, timeout: float = 30.0) -> None:
        self._environ = dict(environ)
        self._timeout = timeout
        self.path = docker_config_path(environ)
        self._config: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._config is not None:
            return self._config
        config: dict[str, Any] = {}
        if self.path is not None:
            try:
                config = json.loads(self.path.read_bytes())
            except FileNotFoundError:
                config = {}
            except (OSError, ValueError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else "it is not valid JSON"
                raise InvalidInputError(
                    f"cannot read the docker config {self.path}: {why}",
                    hint=f"fix or remove {self.path} (it holds registry logins)",
                ) from exc
            if not isinstance(config, dict):
                raise InvalidInputError(
                    f"the docker config {self.path} is not a JSON object",
                    hint=f"fix or remove {self.path}",
                )
        self._config = config
        return config

    def lookup(self, registry: str) -> Credentials | None:
        """The credentials for ``registry`` (``host[:port]``, ``docker.io`` for Docker Hub)."""
        config = self._load()
        hub = registry in _HUB_HOSTS
        server = HUB_SERVER if hub else registry
        names = {server, *(_HUB_HOSTS if hub else (registry,))}
        helpers = config.get("credHelpers")
        helper = None
        if isinstance(helpers, Mapping):
            helper = next((helpers[n] for n in names if isinstance(helpers.get(n), str)), None)
        if helper is None and isinstance(config.get("credsStore"), str):
            helper = config["credsStore"]
        if helper:
            found = self._from_helper(helper, server)
            if found is not None:
                return found
        return self._from_auths(config, names)

    def _from_auths(self, config: Mapping[str, Any], names: set[str]) -> Credentials | None:
        auths = config.get("auths")
        if not isinstance(auths, Mapping):
            return None
        wanted = {_hostname(n) for n in names}
        for key, entry in auths.items():
            if not isinstance(entry, Mapping) or _hostname(str(key)) not in wanted:
                continue
            source = f"the docker config {self.path} (auths entry {key!r})"
            encoded = entry.get("auth")
            if isinstance(encoded, str) and encoded:
                try:
                    user, sep, secret = (
                        base64.b64decode(encoded, validate=True).decode().partition(":")
                    )
                except (binascii.Error, UnicodeDecodeError) as exc:
                    raise InvalidInputError(
                        f"the 'auth' value of {key!r} in {self.path} is not base64 'user:password'",
                        hint=f"run `docker login {key}` again, or fix {self.path}",
                    ) from exc
                if sep and user:
                    return Credentials(user, secret, source)
            name, password = entry.get("username"), entry.get("password")
            if isinstance(name, str) and isinstance(password, str) and name:
                return Credentials(name, password, source)
        return None

    def _from_helper(self, helper: str, server: str) -> Credentials | None:
        binary = f"docker-credential-{helper}"
        source = f"the credential helper {binary} (named in {self.path})"
        hint = f"install {binary} on PATH, or remove it from {self.path}"
        found = shutil.which(binary, path=self._environ.get("PATH", ""))
        if found is None:
            raise RegistryError(f"{source} is not on PATH", hint=hint, code="registry-auth")
        try:
            proc = subprocess.run(
                [found, "get"],
                input=server.encode(),
                capture_output=True,
                env=self._environ,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RegistryError(
                f"{source} did not answer within {self._timeout:g} s",
                hint=hint,
                code="registry-auth",
            ) from exc
        except OSError as exc:
            raise RegistryError(
                f"{source} could not be run: {exc.strerror}", hint=hint, code="registry-auth"
            ) from exc
        output = (proc.stdout or proc.stderr).decode(errors="replace").strip()
        if proc.returncode != 0:
            if _NOT_FOUND in output.lower():
                return None
            raise RegistryError(
                f"{source} failed for {server} (exit {proc.returncode}): {output[:200]}",
                hint=hint,
                code="registry-auth",
            )
        try:
            answer = json.loads(proc.stdout)
            user, secret = answer["Username"], answer["Secret"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(
                f"{source} answered {server} with something other than "
                "JSON holding Username and Secret",
                hint=hint,
                code="registry-auth",
            ) from exc
        if not isinstance(user, str) or not isinstance(secret, str) or not secret:
            return None
        return Credentials(user, secret, source)
