"""A real HTTP server on 127.0.0.1 for the catalog source tests.

``catalog_server`` serves, from one ``ThreadingHTTPServer`` on an ephemeral port:

- ``/catalog.yaml``: a catalog with ETag and Last-Modified, honouring
  ``If-None-Match`` and ``If-Modified-Since`` (304);
- ``/plain.yaml``: the same catalog without validators;
- ``/v0/servers``: an MCP Registry listing over three pages (cursor ``p2``, ``p3``);
- ``/flat/v0/servers``: one page in the older flat shape;
- ``/loop/v0/servers``: a listing whose cursor never changes;
- ``/error``, ``/garbage``, ``/html``, ``/slow``, ``/redirect-loop``, ``/big``: failures.

Tests change what is served through the ``CatalogServer`` attributes; every
request is recorded in ``requests``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from registry_data import FLAT_PAGE, PAGES

CATALOG_YAML = b"""\
version: 1
name: team
description: Servers my team uses
servers:
  - id: time
    title: Time
    source: {type: package, registry: pypi, name: mcp-server-time}
"""
LAST_MODIFIED = "Wed, 21 Oct 2025 07:28:00 GMT"
#: How long a held handler waits for the test to finish before giving up on its own.
HOLD_LIMIT_S = 30.0


@dataclass
class Request:
    """One request the server saw."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class CatalogServer:
    """The state behind the test server; tests may change any of it."""

    base_url: str = ""
    catalog: bytes = CATALOG_YAML
    etag: str = '"v1"'
    pages: dict[str | None, dict[str, Any]] = field(default_factory=lambda: dict(PAGES))
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [r.path for r in self.requests]


def _handler(state: CatalogServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Request(parts.path, parse_qs(parts.query), headers))
            routes: dict[str, Callable[[dict[str, list[str]]], None]] = {
                "/catalog.yaml": self._catalog,
                "/plain.yaml": lambda _q: self._send(200, state.catalog, "application/yaml"),
                "/v0/servers": self._registry,
                "/flat/v0/servers": lambda _q: self._json(FLAT_PAGE),
                "/loop/v0/servers": lambda _q: self._json(
                    {"servers": [], "metadata": {"nextCursor": "same", "count": 0}}
                ),
                "/error": lambda _q: self._send(500, b"internal error", "text/plain"),
                "/garbage": lambda _q: self._send(
                    200, bytes(range(256)) * 4, "application/octet-stream"
                ),
                "/html": lambda _q: self._send(
                    200, b"<!doctype html><html><body>Sign in</body></html>", "text/html"
                ),
                "/slow": self._slow,
                "/redirect-loop": lambda _q: self._redirect("/redirect-loop"),
                "/to-catalog": lambda _q: self._redirect("/catalog.yaml"),
                "/big": self._big,
            }
            route = routes.get(parts.path)
            if route is None:
                self._send(404, b"not found", "text/plain")
            else:
                route(parse_qs(parts.query))

        def handle(self) -> None:
            # The client may give up first, which is what some tests want.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def _send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: object) -> None:
            self._send(200, orjson.dumps(data), "application/json")

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _catalog(self, _query: dict[str, list[str]]) -> None:
            if self.headers.get("If-None-Match") == state.etag or (
                self.headers.get("If-None-Match") is None
                and self.headers.get("If-Modified-Since") == LAST_MODIFIED
            ):
                self.send_response(304)
                self.send_header("ETag", state.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(
                200, state.catalog, "application/yaml", ETag=state.etag, Last_Modified=LAST_MODIFIED
            )

        def _registry(self, query: dict[str, list[str]]) -> None:
            cursor = query.get("cursor", [None])[0]
            page = state.pages.get(cursor)
            if page is None:
                self._send(400, b'{"error": "bad cursor"}', "application/json")
            else:
                self._json(page)

        def _slow(self, _query: dict[str, list[str]]) -> None:
            # Promise a body, send a little of it, then hold the connection until the
            # test ends (or the hold limit), so the client must time out.
            self.send_response(200)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"version: 1\n")
            self.wfile.flush()
            state.held.set()
            state.release.wait(HOLD_LIMIT_S)
            self.close_connection = True

        def _big(self, _query: dict[str, list[str]]) -> None:
            size = 11 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"#" * 65536
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)

    return Handler


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    # A short poll interval keeps shutdown() (and so each teardown) quick.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="catalog-test-server", daemon=True
    )
    thread.start()
    return thread


@pytest.fixture
def catalog_server() -> Iterator[CatalogServer]:
    """The test server over plain HTTP on 127.0.0.1."""
    state = CatalogServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = _serve(server)
    try:
        yield state
    finally:
        state.release.set()  # lets a held /slow handler finish
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class TlsServer:
    """The test server over HTTPS with a self-signed certificate for 127.0.0.1."""

    state: CatalogServer
    cert_path: Path

    def trusting_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this server's certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert_path))


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path, catalog_server: CatalogServer) -> Iterator[TlsServer]:
    """The same routes over HTTPS; ``/to-plain-http`` redirects to the plain server."""
    cert_path, key_path = _self_signed(tmp_path)
    state = CatalogServer()
    handler = _handler(state)

    class TlsHandler(handler):  # type: ignore[valid-type, misc]
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path == "/to-plain-http":
                self._redirect(catalog_server.url("/catalog.yaml"))
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), TlsHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = _serve(server)
    try:
        yield TlsServer(state, cert_path)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
