"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

``start_registry(tmp_path)`` starts ``docker-registry serve config.yml`` on a free loopback
port with its own storage (deletes enabled) and returns once it listens and ``/v2/``
answers. ``auth="htpasswd"`` protects it with a bcrypt htpasswd file for :data:`USERNAME` /
:data:`PASSWORD`; ``auth="token"`` uses distribution's token auth with a small token server
(a thread on 127.0.0.1) that checks those Basic credentials and signs ES256 JWTs carrying
its self-signed certificate in ``x5c``; that certificate is the registry's
``rootcertbundle``. The token server stands in for a hosted auth service such as Docker
Hub's; the registry itself is real. A top-level test module (``tests/`` is on the import
path), so any test folder can use it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REGISTRY_BINARY = "/usr/bin/docker-registry"
USERNAME = "mcpkit-tester"
PASSWORD = "mcpkit-test-password"
#: bcrypt (cost 5) of PASSWORD, made once with the ``bcrypt`` package so the tests need no
#: bcrypt at run time (distribution's htpasswd accepts only bcrypt).
PASSWORD_BCRYPT = "$2b$05$FHZpnwD5h9LNqFkRVSYuNuoQRI8dXmiWJGCnN1QiRQac1lyFUjcoi"
TOKEN_SERVICE = "mcpkit-test-registry"
TOKEN_ISSUER = "mcpkit-test-token-issuer"
#: How long the registry may take to listen (it takes about 0.3 s here).
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

Auth = Literal[None, "htpasswd", "token"]


def registry_available() -> bool:
    """Whether the registry binary is installed."""
    return os.access(REGISTRY_BINARY, os.X_OK)


def require_registry() -> None:
    """Skip the calling test when there is no registry binary, but fail under ``CI=1``."""
    if registry_available():
        return
    problem = f"{REGISTRY_BINARY} is missing (apt-get install docker-registry)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"CI must provide a registry: {problem}", pytrace=False)
    pytest.skip(problem)


# ------------------------------------------------------------------------------ token server


class TokenServer:
    """Issues registry JWTs to :data:`USERNAME`/:data:`PASSWORD`, granting the scope asked."""

    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / "token-cert.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        #: (username or None, scopes asked) of every token request, for assertions.
        self.requests: list[tuple[str | None, list[str]]] = []
        self._x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (bounded)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)

    def issue(self, username: str, scopes: list[str]) -> str:
        """A JWT for ``username`` granting every action of ``scopes``."""
        access: list[dict[str, Any]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": username,
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"x5c": [self._x5c]})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
                user = _basic_user(self.headers.get("Authorization"))
                server.requests.append((user, scopes))
                if url.path != "/token" or query.get("service") != [TOKEN_SERVICE]:
                    self._answer(404, {"error": "unknown service"})
                elif user != USERNAME:
                    self._answer(401, {"error": "incorrect username or password"})
                else:
                    token = server.issue(user, scopes)
                    self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test output is not the place for access logs."""

        return Handler


def _basic_user(header: str | None) -> str | None:
    """The user of a Basic header whose password is right; "" for a wrong one; None if absent."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return ""
    return user if secrets.compare_digest(password, PASSWORD) else ""


# ------------------------------------------------------------------------------ the registry


@dataclass
class RunningRegistry:
    """A ``docker-registry`` child process serving on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    host: str
    root: Path
    auth: Auth = None
    token_server: TokenServer | None = None
    output: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        """The registry's storage root (``docker/registry/v2/...`` below it)."""
        return self.root / "data"

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps the bytes of blob ``digest`` on disk."""
        algorithm, _, hexdigest = digest.partition(":")
        return (
            self.storage
            / "docker/registry/v2/blobs"
            / algorithm
            / hexdigest[:2]
            / hexdigest
            / "data"
        )

    def reference(self, repository: str, tag: str | None = "v1") -> str:
        """``HOST/repository[:tag]`` in this registry."""
        return f"{self.host}/{repository}" + (f":{tag}" if tag else "")

    def log(self) -> str:
        """What the registry printed lately (for assertion messages)."""
        return "\n".join(self.output)

    def write_docker_config(
        self, directory: Path, *, username: str = USERNAME, password: str = PASSWORD
    ) -> Path:
        """Write ``directory/config.json`` with an ``auths`` entry for this registry."""
        directory.mkdir(parents=True, exist_ok=True)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        path = directory / "config.json"
        path.write_text(json.dumps({"auths": {self.host: {"auth": encoded}}}))
        return path

    def stop(self) -> None:
        """Stop the registry (by pid, bounded) and its token server."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(root: Path, port: int, auth: Auth, token_server: TokenServer | None) -> Path:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if auth == "htpasswd":
        htpasswd = root / "htpasswd"
        htpasswd.write_text(f"{USERNAME}:{PASSWORD_BCRYPT}\n")
        config["auth"] = {"htpasswd": {"realm": "mcpkit-test", "path": str(htpasswd)}}
    elif auth == "token":
        assert token_server is not None
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(token_server.cert_path),
            }
        }
    path = root / "config.yml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path


def _launch(root: Path, auth: Auth, token_server: TokenServer | None) -> RunningRegistry | None:
    """Start once; None when the port was taken meanwhile (the process exited)."""
    port = _free_port()
    config = _config(root, port, auth, token_server)
    process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    registry = RunningRegistry(process, f"127.0.0.1:{port}", root, auth, token_server)
    listening = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            registry.output.append(line)
            if "listening on" in line:
                listening.set()
        listening.set()  # EOF: it exited; the caller looks at poll()

    threading.Thread(target=read, daemon=True).start()
    if not listening.wait(START_TIMEOUT) or process.poll() is not None:
        registry.token_server = None  # the caller owns it until a registry starts
        registry.stop()
        if "address already in use" in registry.log():
            return None
        raise RuntimeError(f"docker-registry did not start:\n{registry.log()}")
    _check_v2(registry)
    return registry


def _check_v2(registry: RunningRegistry) -> None:
    """``/v2/`` answers 200 (open) or 401 (auth): the registry serves its API."""
    try:
        url = f"{registry.url}/v2/"  # always http://127.0.0.1:PORT
        with urllib.request.urlopen(url, timeout=START_TIMEOUT) as answer:  # noqa: S310
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    if status not in (200, 401):
        registry.stop()
        raise RuntimeError(f"docker-registry answered /v2/ with {status}:\n{registry.log()}")


def start_registry(tmp_path: Path, *, auth: Auth = None) -> RunningRegistry:
    """Start a registry with storage under ``tmp_path`` (see the module docstring)."""
    require_registry()
    root = tmp_path / f"registry-{auth or 'open'}-{secrets.token_hex(3)}"
    root.mkdir(parents=True)
    token_server = TokenServer(root) if auth == "token" else None
    try:
        for _ in range(3):
            registry = _launch(root, auth, token_server)
            if registry is not None:
                return registry
    except BaseException:
        if token_server is not None:
            token_server.stop()
        raise
    if token_server is not None:
        token_server.stop()
    raise RuntimeError("docker-registry found no free port in three tries")


def credential_helper(directory: Path, name: str, answers: dict[str, tuple[str, str]]) -> Path:
    """Write an executable ``docker-credential-NAME`` into ``directory`` answering ``get``.

    ``answers`` maps a server address to (username, secret); other addresses get docker's
    "credentials not found" answer. Returns the directory (put it on the environ's PATH).
    """
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / f"docker-credential-{name}"
    python = sys.executable  # a real interpreter: the helper's PATH may hold nothing else
    table = {k: {"ServerURL": k, "Username": u, "Secret": s} for k, (u, s) in answers.items()}
    script.write_text(
        f"#!{python}\n"
        "import json, sys\n"
        f"TABLE = {json.dumps(table)!r}\n"
        "if sys.argv[1:] != ['get']:\n"
        "    sys.exit(2)\n"
        "server = sys.stdin.read().strip()\n"
        "answer = json.loads(TABLE).get(server)\n"
        "if answer is None:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
        "print(json.dumps(answer))\n"
    )
    script.chmod(0o755)
    return directory
