"""A container engine (Docker, or Podman's Docker-compatible API) reached over its socket.

:func:`resolve_endpoint` finds the engine the way the ``docker`` CLI does: ``DOCKER_HOST``
first, then the context named by ``DOCKER_CONTEXT`` or by ``currentContext`` in the CLI's
``config.json`` (``DOCKER_CONFIG`` moves it), then the default socket. TLS settings come
from ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` or the context's ``tls`` folder.

:class:`Engine` wraps the Docker SDK's low-level client. The SDK is synchronous, so every
call runs in a worker thread and engine failures become :class:`RuntimeUnavailableError`
(the engine is not there) or :class:`EngineError` (it answered with an error), each with a
hint. The attach stream, the hot path, does not go through the SDK's reader: see
:mod:`mcpkit.transport.attach`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mcpkit.errors import McpkitError, RuntimeUnavailableError, ServerError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
#: The oldest Engine API mcpkit speaks (docker 20.10, podman 4).
MIN_API = "1.41"
#: The engine's HTTP status for no such image or container.
NOT_FOUND = 404


class EngineError(ServerError):
    """The engine answered, with an error (no such image, a bad mount, a conflict...)."""

    default_code = "engine-error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        #: The engine's HTTP status (404: no such image or container), when it answered.
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where the engine listens, and where that was decided."""

    url: str
    origin: str
    tls_dir: str | None = None
    tls_verify: bool = False

    @property
    def is_local(self) -> bool:
        """True when the engine runs on this machine (a unix socket), so host paths are ours."""
        return self.url.startswith("unix://")


def resolve_endpoint(environ: Mapping[str, str]) -> Endpoint:
    """The engine endpoint ``environ`` selects, like the docker CLI would."""
    host = environ.get("DOCKER_HOST")
    if host:
        tls = environ.get("DOCKER_CERT_PATH")
        verify = environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        return Endpoint(
            host, "DOCKER_HOST", tls_dir=tls if verify or tls else None, tls_verify=verify
        )
    config_dir = Path(environ.get("DOCKER_CONFIG") or Path(environ.get("HOME", "~")) / ".docker")
    context = environ.get("DOCKER_CONTEXT") or _current_context(config_dir)
    if context and context != "default":
        found = _context_endpoint(config_dir, context)
        if found is None:
            raise RuntimeUnavailableError(
                f"the docker context {context!r} does not exist",
                hint="docker context ls; or unset DOCKER_CONTEXT / set DOCKER_HOST",
            )
        return found
    return Endpoint(DEFAULT_SOCKET, "default")


def _current_context(config_dir: Path) -> str | None:
    try:
        data = json.loads((config_dir.expanduser() / "config.json").read_text())
    except (OSError, ValueError):
        return None
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def _context_endpoint(config_dir: Path, name: str) -> Endpoint | None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    base = config_dir.expanduser() / "contexts"
    try:
        meta = json.loads((base / "meta" / digest / "meta.json").read_text())
        docker = meta["Endpoints"]["docker"]
        host = docker["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    tls = base / "tls" / digest / "docker"
    verify = not docker.get("SkipTLSVerify", False)
    return Endpoint(
        str(host),
        f"context {name}",
        tls_dir=str(tls) if tls.is_dir() else None,
        tls_verify=tls.is_dir() and verify,
    )


def _unix_path(url: str) -> str | None:
    return url.removeprefix("unix://") if url.startswith("unix://") else None


class Engine:
    """One engine endpoint; every call is run off the event loop."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 120.0) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._api: Any = None
        self._version: dict[str, Any] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Engine:
        """The engine ``environ`` selects (not contacted yet)."""
        return cls(resolve_endpoint(environ))

    @property
    def api(self) -> Any:
        """The Docker SDK's low-level ``APIClient`` (made on first use)."""
        if self._api is None:
            self._api = self._client()
        return self._api

    def _client(self) -> Any:
        import docker
        from docker.errors import DockerException

        tls: Any = False
        if self.endpoint.tls_dir:
            cert = Path(self.endpoint.tls_dir)
            tls = docker.tls.TLSConfig(
                client_cert=(str(cert / "cert.pem"), str(cert / "key.pem")),
                ca_cert=str(cert / "ca.pem") if self.endpoint.tls_verify else None,
                verify=self.endpoint.tls_verify,
            )
        try:
            return docker.APIClient(
                base_url=self.endpoint.url, version=MIN_API, timeout=int(self._timeout), tls=tls
            )
        except DockerException as exc:
            raise self._unavailable(str(exc)) from exc

    def ping_quick(self, timeout: float = 2.0) -> bool:
        """Whether something answers on a local socket, without the SDK (cheap, blocking)."""
        path = _unix_path(self.endpoint.url)
        if path is None:
            return True  # a remote engine: let the real call tell
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.")
        except OSError:
            return False
        finally:
            sock.close()

    async def call(self, fn: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` (an SDK call) in a thread, mapping engine errors."""
        return await asyncio.to_thread(lambda: self.call_sync(fn, *args, what=what, **kwargs))

    def call_sync(self, fn: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T:
        """The blocking form of :meth:`call`."""
        from docker.errors import APIError, DockerException
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import ReadTimeout

        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            raise self.api_error(exc, what) from None
        except (RequestsConnectionError, ReadTimeout, DockerException, OSError) as exc:
            if isinstance(exc, McpkitError):
                raise
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from None

    def api_error(self, exc: Any, what: str) -> EngineError:
        """An :class:`EngineError` for an SDK ``APIError`` met while doing ``what``."""
        explanation = getattr(exc, "explanation", None) or str(exc)
        status = getattr(exc, "status_code", None)
        hint = "check the engine's log"
        if status == NOT_FOUND:
            hint = "check the name; 'docker images' lists what the engine has"
        return EngineError(
            f"the container engine refused to {what}: {explanation}", hint=hint, status=status
        )

    def _unavailable(self, detail: str) -> RuntimeUnavailableError:
        where = f"{self.endpoint.url} ({self.endpoint.origin})"
        return RuntimeUnavailableError(
            f"no container engine answers at {where}: {detail}",
            hint="start dockerd (or 'podman system service'), or point DOCKER_HOST at "
            "a running engine; 'mcpkit doctor' checks it",
            code="engine-unavailable",
        )

    async def version(self) -> dict[str, Any]:
        """The engine's ``/version`` (cached)."""
        if self._version is None:
            if not await asyncio.to_thread(self.ping_quick):
                raise self._unavailable("nothing listens on the socket")
            # Importing the SDK and making its client takes ~0.1 s: not on the event loop.
            await asyncio.to_thread(lambda: self.api)
            version: dict[str, Any] = await self.call(self.api.version, what="report its version")
            self._version = version
        return self._version

    @property
    def product(self) -> str:
        """``docker`` or ``podman``, from the version report (``docker`` until known)."""
        return product_name(self._version or {})

    def close(self) -> None:
        """Close the SDK's connection pool."""
        if self._api is not None:
            self._api.close()
            self._api = None


def product_name(version: Mapping[str, Any]) -> str:
    """``podman`` when an engine's ``/version`` report names podman, else ``docker``."""
    components = version.get("Components") or []
    names = " ".join(str(c.get("Name", "")) for c in components if isinstance(c, dict))
    return "podman" if "podman" in names.lower() else "docker"
