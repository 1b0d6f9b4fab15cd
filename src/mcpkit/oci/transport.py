"""HTTP to OCI registries: endpoints, authentication, and errors in mcpkit's tree.

One ``requests`` session per client. Not oras-py's ``Registry.do_request``: it retries every
failure five times with sleeps of 3 to 83 s (a refused connection would take over two
minutes to report), has no timeout, caches a single bearer token for every scope and only
refreshes it on 403, and reads credentials from the process environment. Here a request
is sent once; on a 401 the challenge is answered (Basic with the docker-config credentials,
or a bearer token for the repository and actions asked, cached per scope) and the request
is sent once more. Proxies and ``.netrc`` from the process environment are not used
(``trust_env`` off); the trust store follows ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` /
``REQUESTS_CA_BUNDLE`` from the ``environ`` given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from mcpkit.errors import McpkitError, RegistryError, UnknownReferenceError
from mcpkit.oci.auth import (
    Challenge,
    Credentials,
    DockerCredentials,
    fetch_token,
    parse_challenge,
)
from mcpkit.oci.reference import DOCKER_HUB

#: Where Docker Hub's registry API lives (``docker.io`` is only its name in references).
HUB_API_HOST = "registry-1.docker.io"


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request (oras-py's token fetch included) a timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request, stream, self._timeout if timeout is None else timeout, verify, cert, proxies
        )


def make_session(timeout: float, environ: Mapping[str, str]) -> requests.Session:
    """A session that ignores cookies and the process environment, with a default timeout."""
    session = requests.Session()
    session.trust_env = False
    # Some registries set cookies and then expect CSRF tokens, as if talking to a browser.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _TimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR"):
        if environ.get(name):
            session.verify = environ[name]
            break
    session.headers["User-Agent"] = "mcpkit"
    return session


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` names this machine (127.0.0.0/8, ::1, localhost)."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    """A short cause of a connection failure, without the URL soup requests builds."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        for arg in current.args:
            if isinstance(arg, BaseException):
                inner = _reason(arg)
                if inner:
                    return inner
        current = current.__cause__ or current.__context__
    text = str(exc)
    return text.rsplit(": ", 1)[-1].strip("()'\" ")[:200] if text else type(exc).__name__


def registry_errors(response: requests.Response) -> str:
    """The ``errors`` of a registry's JSON error body, as ``CODE: message`` (or the status)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        for error in body["errors"]:
            if isinstance(error, Mapping):
                parts.append(f"{error.get('code', '?')}: {error.get('message', '')}".strip())
    return "; ".join(parts)[:300] or f"HTTP {response.status_code} {response.reason or ''}".strip()


class Endpoint:
    """One registry: its base URL, credentials (looked up when first asked) and tokens."""

    def __init__(
        self,
        registry: str,
        session: requests.Session,
        credentials: DockerCredentials,
        *,
        insecure: Iterable[str],
        timeout: float,
    ) -> None:
        self.registry = registry
        host = HUB_API_HOST if registry == DOCKER_HUB else registry
        bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        self.plain = is_loopback(host) or host in insecure or bare in insecure
        self.base = f"{'http' if self.plain else 'https'}://{host}"
        self._session = session
        self._store = credentials
        self._timeout = timeout
        self._credentials: Credentials | None = None
        self._looked_up = False
        self._basic = False
        self._tokens: dict[tuple[str, frozenset[str]], str] = {}

    def credentials(self) -> Credentials | None:
        """The docker-config credentials for this registry (looked up once)."""
        if not self._looked_up:
            self._credentials = self._store.lookup(self.registry)
            self._looked_up = True
        return self._credentials

    def request(
        self,
        method: str,
        path: str,
        *,
        repository: str,
        actions: Sequence[str],
        what: str,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one request (answering an auth challenge once). Statuses are not checked,
        except that refused credentials raise ``RegistryError(code="registry-auth")``."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        key = (repository, frozenset(actions))
        if not url.startswith(f"{self.base}/"):
            # Credentials go to the registry only, never to a host a Location points at.
            return self._send(method, url, what, headers, data, stream, None)
        sent = self._auth_header(key)
        response = self._send(method, url, what, headers, data, stream, sent)
        if response.status_code not in (401, 403):
            return response
        # An expired or too narrow token is dropped, so it is not offered again.
        self._tokens = {k: v for k, v in self._tokens.items() if f"Bearer {v}" != sent}
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        _ = response.content  # small error bodies: read now, so the connection is reusable
        if challenge is None:
            raise self._refused(what, response)
        authorization = self._answer(challenge, key, what)
        response = self._send(method, url, what, headers, data, stream, authorization)
        if response.status_code in (401, 403):
            _ = response.content
            raise self._refused(what, response)
        return response

    def _auth_header(self, key: tuple[str, frozenset[str]]) -> str | None:
        repository, actions = key
        for (cached_repository, cached_actions), token in self._tokens.items():
            # A push token (pull,push) serves the pulls that follow a push.
            if cached_repository == repository and actions <= cached_actions:
                return f"Bearer {token}"
        credentials = self._credentials if self._basic else None
        return f"Basic {credentials.basic}" if credentials else None

    def _answer(self, challenge: Challenge, key: tuple[str, frozenset[str]], what: str) -> str:
        credentials = self.credentials()
        if challenge.scheme == "basic":
            if credentials is None:
                raise self._refused(what, None)
            self._basic = True
            return f"Basic {credentials.basic}"
        if not challenge.realm:
            raise RegistryError(
                f"registry {self.registry} asked for a bearer token without saying where "
                f"to get one (to {what})",
                hint="the registry's auth configuration is broken; ask its operator",
            )
        if challenge.realm.startswith("http://") and not self.plain and credentials:
            raise RegistryError(
                f"registry {self.registry} sends credentials to a plain-HTTP token service "
                f"({challenge.realm}); refusing",
                hint="use a registry whose token service is served over HTTPS",
                code="registry-auth",
            )
        scope = _merge_scope(challenge.scope, key[0], key[1])
        try:
            verify = self._session.verify
            token = fetch_token(
                self._session,
                challenge,
                scope,
                credentials,
                verify=True if verify is None else verify,
            )
        except (requests.RequestException, ValueError) as exc:
            raise RegistryError(
                f"the token service of registry {self.registry} ({challenge.realm}) failed "
                f"while trying to {what}: {_reason(exc)}",
                hint=f"is the token service at {challenge.realm} reachable?",
            ) from exc
        if token is None:
            raise self._refused(what, None, token_service=challenge.realm)
        self._tokens[key] = token
        return f"Bearer {token}"

    def _refused(
        self, what: str, response: requests.Response | None, *, token_service: str | None = None
    ) -> RegistryError:
        credentials = self._credentials
        detail = f" ({registry_errors(response)})" if response is not None else ""
        by = f" (its token service {token_service})" if token_service else ""
        if credentials is None:
            message = f"registry {self.registry}{by} requires credentials to {what}{detail}"
            hint = f"`docker login {self.registry}`, then try again"
        else:
            message = (
                f"registry {self.registry}{by} refused the credentials from "
                f"{credentials.source} to {what}{detail}"
            )
            hint = (
                f"`docker login {self.registry}` with an account that may do this "
                "(or fix that entry)"
            )
        return RegistryError(message, hint=hint, code="registry-auth")

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        stream: bool,
        authorization: str | None,
    ) -> requests.Response:
        sent: dict[str, str] = dict(headers or {})
        if authorization:
            sent["Authorization"] = authorization
        try:
            return self._session.request(method, url, headers=sent, data=data, stream=stream)
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"TLS with registry {self.registry} failed while trying to {what}: {_reason(exc)}",
                hint=(
                    f"if {self.registry} serves plain HTTP or a certificate this machine does "
                    "not trust, add it to `[registry] insecure` in mcpkit's config.toml "
                    "(loopback registries use plain HTTP already), or point SSL_CERT_FILE "
                    "at its CA"
                ),
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise RegistryError(
                f"registry {self.registry} did not answer within {self._timeout:g} s "
                f"while trying to {what}",
                hint="try again, or raise `[registry] timeout` in mcpkit's config.toml",
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise RegistryError(
                f"could not reach registry {self.registry} to {what}: {_reason(exc)}",
                hint=f"is the registry running at {self.base}?",
            ) from exc
        except requests.RequestException as exc:
            raise RegistryError(
                f"request to registry {self.registry} failed while trying to {what}: "
                f"{_reason(exc)}",
                hint=f"is the registry running at {self.base}?",
            ) from exc


def _merge_scope(challenged: str | None, repository: str, actions: frozenset[str]) -> str:
    """The scope to ask for: what the registry challenged for, plus the actions we need.

    Asking for push and pull at once (as docker does) saves a token round trip per push.
    """
    wanted = set(actions)
    if challenged:
        parts = challenged.split(":")
        if len(parts) == 3 and parts[0] == "repository" and parts[1] == repository:
            wanted.update(a for a in parts[2].split(",") if a)
        elif not actions:
            return challenged
    return f"repository:{repository}:{','.join(sorted(wanted))}"


def raise_for_status(
    response: requests.Response,
    *,
    registry: str,
    what: str,
    not_found_hint: str = "check the repository name and the tag or digest",
) -> None:
    """Translate an error status into mcpkit's tree (2xx returns)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = registry_errors(response)
    response.close()
    error: McpkitError
    if status == 404:
        error = UnknownReferenceError(
            f"{what}: not found in registry {registry} ({detail})", hint=not_found_hint
        )
    elif status == 405:
        error = RegistryError(
            f"registry {registry} does not allow this: {what} ({detail})",
            hint="the registry has this operation disabled (deletes need "
            "storage.delete.enabled in distribution's config)",
        )
    elif status >= 500:
        error = RegistryError(
            f"registry {registry} failed to {what}: {detail}",
            hint="try again later; the registry's log says why",
        )
    else:
        error = RegistryError(
            f"registry {registry} refused to {what}: {detail}",
            hint="the registry rejected the request as malformed or too large",
        )
    raise error


def header(response: requests.Response, name: str) -> str | None:
    """A response header, or None."""
    value: Any = response.headers.get(name)
    return value if isinstance(value, str) and value else None
