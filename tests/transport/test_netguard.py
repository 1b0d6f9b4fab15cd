"""The SSRF guard: static URL checks, and the guarded client against real servers on 127.0.0.x.

Servers are uvicorn in a thread on pre-bound sockets (so they accept from the first
instant, no waiting): plain HTTP on 127.0.0.1, HTTPS on 127.0.0.1 (a redirect target that
must never be reached) and HTTPS on 127.0.0.2 (the "public" origin, let through with
``allow_networks``), all with certificates from a test CA (tls_helpers).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from mcpkit.errors import InvalidInputError, ServerError
from mcpkit.transport.netguard import (
    INSECURE_FLAG,
    GuardedNetworkBackend,
    RemotePolicy,
    RemoteRefusedError,
    check_url,
    describe_url,
    guarded_client,
)
from tls_helpers import Pki, make_pki

pytestmark = pytest.mark.anyio

STRICT = RemotePolicy()
INSECURE = RemotePolicy(allow_insecure=True)
ORIGIN_ONLY = RemotePolicy(allow_networks=("127.0.0.2/32",))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Recorder:
    """An ASGI app that records each request path and answers with a redirect or 200."""

    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append(scope["path"])
        status, location = self.redirects.get(scope["path"], (200, ""))
        headers = [(b"content-type", b"text/plain")]
        if location:
            headers.append((b"location", location.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello from " + scope["path"].encode()})


@dataclass
class Served:
    app: Recorder
    host: str
    port: int

    def url(self, path: str = "/", *, scheme: str = "https", host: str | None = None) -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"


@contextmanager
def _serve(host: str, pki: Pki | None = None) -> Iterator[Served]:
    app = Recorder()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(16)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        log_level="warning",
        ssl_certfile=str(pki.cert) if pki else None,
        ssl_keyfile=str(pki.key) if pki else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Served(app, host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(
        tmp_path_factory.mktemp("pki"),
        names=("localhost", "origin.test"),
        addresses=("127.0.0.1", "127.0.0.2"),
    )


@pytest.fixture(scope="module")
def _plain() -> Iterator[Served]:
    with _serve("127.0.0.1") as served:
        yield served


@pytest.fixture(scope="module")
def _target(pki: Pki) -> Iterator[Served]:
    with _serve("127.0.0.1", pki) as served:
        yield served


@pytest.fixture(scope="module")
def _origin(pki: Pki, _target: Served) -> Iterator[Served]:
    with _serve("127.0.0.2", pki) as served:
        served.app.redirects = {
            "/to-loopback": (307, _target.url("/secret")),
            "/to-metadata": (302, "http://169.254.169.254/latest/meta-data/"),
            "/to-decimal": (302, f"https://2130706433:{_target.port}/secret"),
        }
        yield served


# The servers live for the module; each test starts from an empty record.
@pytest.fixture
def plain(_plain: Served) -> Served:
    _plain.app.seen.clear()
    return _plain


@pytest.fixture
def target(_target: Served) -> Served:
    _target.app.seen.clear()
    return _target


@pytest.fixture
def origin(_origin: Served) -> Served:
    _origin.app.seen.clear()
    return _origin


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A bare listening socket nobody accepts on: any connection made waits in its backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _assert_no_connection(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()


def _resolver(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> Any:
    """A fake DNS: nothing real can answer for made-up names (the one fake in this module)."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        return table[host]

    return resolve


FORBIDDEN = [
    ("https://127.0.0.1/", "loopback address 127.0.0.1"),
    ("https://127.8.9.10:8443/mcp", "loopback address 127.8.9.10"),
    ("https://[::1]/", "loopback address ::1"),
    ("https://localhost/", "loopback host name localhost"),
    ("https://LocalHost./", "loopback host name localhost"),
    ("https://api.localhost/", "loopback host name api.localhost"),
    ("https://2130706433/", "loopback address 127.0.0.1"),
    ("https://0x7f.1/", "loopback address 127.0.0.1"),
    ("https://017700000001/", "loopback address 127.0.0.1"),
    ("https://127.1/", "loopback address 127.0.0.1"),
    ("https://10.0.0.5/", "private address 10.0.0.5"),
    ("https://172.16.3.4/", "private address 172.16.3.4"),
    ("https://192.168.1.1/", "private address 192.168.1.1"),
    ("https://0xc0a80101/", "private address 192.168.1.1"),
    ("https://[fd12:3456::1]/", "private (unique local) address fd12:3456::1"),
    ("https://169.254.10.20/", "link-local address 169.254.10.20"),
    ("https://[fe80::1]/", "link-local address fe80::1"),
    ("https://100.64.0.1/", "shared (carrier-grade NAT) address 100.64.0.1"),
    ("https://0.0.0.0/", "unspecified address 0.0.0.0"),
    ("https://0/", "unspecified address 0.0.0.0"),
    ("https://[::]/", "unspecified address ::"),
    ("https://0.1.2.3/", "'this network' address 0.1.2.3"),
    ("https://224.0.0.1/", "multicast address 224.0.0.1"),
    ("https://[ff02::1]/", "multicast address ff02::1"),
    ("https://255.255.255.255/", "broadcast address 255.255.255.255"),
    ("https://240.0.0.1/", "reserved address 240.0.0.1"),
    ("https://192.0.2.7/", "documentation address 192.0.2.7"),
    ("https://198.51.100.7/", "documentation address 198.51.100.7"),
    ("https://203.0.113.7/", "documentation address 203.0.113.7"),
    ("https://[2001:db8::7]/", "documentation address 2001:db8::7"),
    ("https://198.18.0.1/", "benchmarking address 198.18.0.1"),
    ("https://[::ffff:127.0.0.1]/", "IPv4-mapped loopback address 127.0.0.1"),
    ("https://[::ffff:a00:1]/", "IPv4-mapped private address 10.0.0.1"),
    ("https://[64:ff9b::a9fe:a9fe]/", "NAT64-embedded cloud metadata address 169.254.169.254"),
    ("https://[2002:c0a8:101::1]/", "6to4-embedded private address 192.168.1.1"),
    ("https://[::127.0.0.1]/", "reserved (IPv4-compatible) address"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata address 169.254.169.254"),
    ("https://[fd00:ec2::254]/", "cloud metadata address fd00:ec2::254"),
    ("https://100.100.100.200/", "cloud metadata address 100.100.100.200"),
    ("https://metadata.google.internal/", "cloud metadata host name metadata.google.internal"),
    ("https://metadata/computeMetadata/v1/", "cloud metadata host name metadata"),
]


@pytest.mark.parametrize(("url", "named"), FORBIDDEN)
def test_check_url_refuses_each_forbidden_class_and_names_it(url: str, named: str) -> None:
    with pytest.raises(RemoteRefusedError) as info:
        check_url(url, STRICT)
    err = info.value
    assert isinstance(err, ServerError)
    assert err.code == "remote-refused"
    assert named in err.message
    assert err.message.startswith("refused remote URL ")
    assert err.hint
    assert ("metadata" in err.hint) if "metadata" in named else (INSECURE_FLAG in err.hint)


@pytest.mark.parametrize(
    "url",
    [
        "https://mcp.example.com/mcp",
        "https://8.8.8.8/",
        "https://[2606:4700:4700::1111]:8443/sse",
        "https://[::ffff:8.8.8.8]/",
        "https://[64:ff9b::808:808]/",
        "HTTPS://Mcp.Example.COM/mcp?x=1",
    ],
)
def test_check_url_accepts_public_https_urls(url: str) -> None:
    assert check_url(url, STRICT) == httpx.URL(url)


@pytest.mark.parametrize("policy", [STRICT, INSECURE], ids=["strict", "insecure"])
def test_userinfo_is_refused_even_with_allow_insecure_and_never_echoed(
    policy: RemotePolicy,
) -> None:
    with pytest.raises(RemoteRefusedError, match="carries credentials") as info:
        check_url("https://alice:hunter2@mcp.example.com/mcp", policy)
    assert "hunter2" not in info.value.message
    assert "alice" not in info.value.message


def test_plain_http_is_refused_without_the_opt_in() -> None:
    with pytest.raises(RemoteRefusedError, match="plain http is refused") as info:
        check_url("http://mcp.example.com/mcp", STRICT)
    assert INSECURE_FLAG in (info.value.hint or "")


@pytest.mark.parametrize(
    ("url", "named"),
    [("ftp://mcp.example.com/", "scheme 'ftp'"), ("https:///mcp", "no host"), ("mcp", "scheme")],
)
def test_other_schemes_and_hostless_urls_are_refused(url: str, named: str) -> None:
    with pytest.raises(RemoteRefusedError, match=named):
        check_url(url, INSECURE)


def test_a_numeric_host_that_is_no_valid_address_is_refused() -> None:
    with pytest.raises(RemoteRefusedError, match="not a valid"):
        check_url("https://0x1ffffffff/", STRICT)


async def test_allow_insecure_lets_a_request_reach_a_local_http_server(plain: Served) -> None:
    assert check_url(plain.url("/hello", scheme="http"), INSECURE)
    async with guarded_client(INSECURE) as client:
        response = await client.get(plain.url("/hello", scheme="http"))
    assert response.status_code == 200
    assert response.text == "hello from /hello"
    assert plain.app.seen == ["/hello"]


async def test_the_client_refuses_a_loopback_url_before_sending(plain: Served) -> None:
    async with guarded_client(STRICT) as client:
        with pytest.raises(RemoteRefusedError, match=r"loopback address 127.0.0.1"):
            await client.get(plain.url("/hello", scheme="http"))
    assert plain.app.seen == []


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/"]
)
def test_allow_insecure_still_refuses_cloud_metadata(url: str) -> None:
    with pytest.raises(RemoteRefusedError, match="cloud metadata"):
        check_url(url, INSECURE)


async def test_a_name_resolving_to_loopback_is_refused_at_connect_time_without_connecting(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    backend = GuardedNetworkBackend(STRICT)  # the real system resolver, /etc/hosts
    with pytest.raises(RemoteRefusedError, match=r"localhost resolves to loopback address"):
        await backend.connect_tcp("localhost", port, timeout=5)
    _assert_no_connection(listener)


async def test_with_allow_insecure_the_backend_dials_the_address_it_resolved(
    listener: socket.socket,
) -> None:
    # The control for the test above: the same listener does see a connection.
    port = listener.getsockname()[1]
    stream = await GuardedNetworkBackend(INSECURE).connect_tcp("localhost", port, timeout=5)
    try:
        listener.setblocking(True)
        listener.settimeout(5)
        accepted, _ = listener.accept()
        accepted.close()
        assert stream.get_extra_info("server_addr")[0] in ("127.0.0.1", "::1")
    finally:
        await stream.aclose()


async def test_dns_rebinding_to_loopback_is_refused_by_the_client_at_connect_time(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    resolve = _resolver({"rebind.example": ["127.0.0.1"]})
    async with guarded_client(STRICT, resolver=resolve) as client:
        with pytest.raises(RemoteRefusedError) as info:
            await client.get(f"https://rebind.example:{port}/mcp?token=abc")
    assert "rebind.example resolves to loopback address 127.0.0.1" in info.value.message
    assert INSECURE_FLAG in (info.value.hint or "")
    _assert_no_connection(listener)


async def test_one_forbidden_address_among_public_ones_refuses_the_host(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    resolve = _resolver({"mixed.example": ["93.184.215.14", "2606:2800::1", "10.0.0.7"]})
    async with guarded_client(STRICT, resolver=resolve) as client:
        with pytest.raises(RemoteRefusedError, match=r"resolves to private address 10.0.0.7"):
            await client.get(f"https://mixed.example:{port}/")
    _assert_no_connection(listener)


async def test_the_client_dials_the_checked_address_and_verifies_tls_on_the_host_name(
    pki: Pki, origin: Served
) -> None:
    calls: list[str] = []
    resolve = _resolver({"origin.test": ["127.0.0.2"], "other.test": ["127.0.0.2"]}, calls)
    async with guarded_client(ORIGIN_ONLY, verify=pki.client_context(), resolver=resolve) as c:
        response = await c.get(origin.url("/pinned", host="origin.test"))
        assert response.status_code == 200
        # The certificate names origin.test and 127.0.0.2 but not other.test: verification
        # (and SNI) use the configured host name, never the address dialled.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await c.get(origin.url("/wrong-name", host="other.test"))
        # An IP-literal host is checked as it is, with no lookup.
        assert (await c.get(origin.url("/by-address"))).status_code == 200
    assert calls == ["origin.test", "other.test"]
    assert origin.app.seen == ["/pinned", "/by-address"]


async def test_a_redirect_into_loopback_is_refused_and_the_target_sees_nothing(
    pki: Pki, origin: Served, target: Served
) -> None:
    async with guarded_client(
        ORIGIN_ONLY, verify=pki.client_context(), follow_redirects=True
    ) as client:
        with pytest.raises(RemoteRefusedError, match=r"loopback address 127.0.0.1"):
            await client.get(origin.url("/to-loopback"))
        with pytest.raises(RemoteRefusedError, match=r"loopback address 127.0.0.1"):
            await client.get(origin.url("/to-decimal"))
    assert origin.app.seen == ["/to-loopback", "/to-decimal"]
    assert target.app.seen == []


async def test_without_the_guard_the_same_redirect_would_reach_the_target(
    pki: Pki, origin: Served, target: Served
) -> None:
    # The control for the test above: allow_insecure follows the hop to the target.
    async with guarded_client(INSECURE, verify=pki.client_context(), follow_redirects=True) as c:
        response = await c.get(origin.url("/to-loopback"))
    assert response.text == "hello from /secret"
    assert target.app.seen == ["/secret"]


@pytest.mark.parametrize("policy", [ORIGIN_ONLY, INSECURE], ids=["allowed-net", "insecure"])
async def test_a_redirect_to_cloud_metadata_is_refused(
    pki: Pki, origin: Served, policy: RemotePolicy
) -> None:
    async with guarded_client(policy, verify=pki.client_context(), follow_redirects=True) as c:
        with pytest.raises(RemoteRefusedError, match=r"cloud metadata address 169.254.169.254"):
            await c.get(origin.url("/to-metadata"))
    assert origin.app.seen == ["/to-metadata"]


async def test_without_follow_redirects_the_redirect_is_returned_to_the_caller(
    pki: Pki, origin: Served, target: Served
) -> None:
    async with guarded_client(ORIGIN_ONLY, verify=pki.client_context()) as client:
        response = await client.get(origin.url("/to-loopback"))
        assert response.status_code == 307
        # A caller that follows the hop by hand goes through the same check.
        with pytest.raises(RemoteRefusedError, match="loopback"):
            await client.get(response.headers["location"])
    assert target.app.seen == []


async def test_allow_networks_lets_a_listed_address_through_over_https_only(
    pki: Pki, origin: Served
) -> None:
    async with guarded_client(ORIGIN_ONLY, verify=pki.client_context()) as client:
        response = await client.get(origin.url("/ok"))
        assert response.status_code == 200
        with pytest.raises(RemoteRefusedError, match="plain http"):
            await client.get(origin.url("/ok", scheme="http"))
    async with guarded_client(STRICT, verify=pki.client_context()) as client:
        with pytest.raises(RemoteRefusedError, match=r"loopback address 127.0.0.2"):
            await client.get(origin.url("/ok"))
    assert origin.app.seen == ["/ok"]


def test_allow_networks_covers_only_what_it_lists_and_never_metadata() -> None:
    policy = RemotePolicy(allow_networks=("10.1.0.0/16", "169.254.0.0/16", "fd12::/16"))
    assert check_url("https://10.1.2.3/", policy)
    assert check_url("https://[::ffff:10.1.2.3]/", policy)
    assert check_url("https://169.254.1.1/", policy)
    assert check_url("https://[fd12::5]/", policy)
    with pytest.raises(RemoteRefusedError, match=r"private address 10.2.0.1"):
        check_url("https://10.2.0.1/", policy)
    with pytest.raises(RemoteRefusedError, match=r"cloud metadata address 169.254.169.254"):
        check_url("https://169.254.169.254/", policy)


@pytest.mark.parametrize("cidr", ["nope", "10.0.0.0/33", ""])
def test_an_invalid_allowed_network_is_rejected(cidr: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a CIDR network") as info:
        RemotePolicy(allow_networks=(cidr,))
    assert "10.1.0.0/16" in (info.value.hint or "")


async def test_environment_proxies_are_ignored_and_ssl_cert_file_is_trusted(
    pki: Pki, origin: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 9: a client that used the proxy would fail to connect.
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    async with guarded_client(ORIGIN_ONLY, environ={"SSL_CERT_FILE": str(pki.ca_cert)}) as c:
        response = await c.get(origin.url("/direct"))
    assert response.status_code == 200
    assert origin.app.seen == ["/direct"]


async def test_the_default_trust_store_does_not_trust_the_test_ca(origin: Served) -> None:
    async with guarded_client(ORIGIN_ONLY, environ={}) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(origin.url("/untrusted"))


def test_timeouts_come_from_the_policy_and_read_timeout_can_be_lifted() -> None:
    policy = RemotePolicy(connect_timeout=3.0, timeout=7.0)
    default = guarded_client(policy)
    streaming = guarded_client(policy, read_timeout=None)
    assert default.timeout == httpx.Timeout(connect=3.0, read=7.0, write=7.0, pool=7.0)
    assert streaming.timeout.read is None
    assert streaming.timeout.connect == 3.0


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://alice:s3cret@mcp.example.com:8443/mcp?api_key=xyz#frag",
            "https://mcp.example.com:8443/mcp",
        ),
        (httpx.URL("https://mcp.example.com/a/b?token=t"), "https://mcp.example.com/a/b"),
        ("https://[::1]:9000/x?y=1", "https://[::1]:9000/x"),
        ("https://u:p@mcp.example.com:99999/x?q=1", "https://mcp.example.com:99999/x"),
        ("not a url at all", "(unparseable URL)"),
    ],
)
def test_describe_url_strips_userinfo_query_and_fragment(url: str | httpx.URL, shown: str) -> None:
    text = describe_url(url)
    assert text == shown
    assert "s3cret" not in text and "xyz" not in text and "token" not in text


async def test_cloud_metadata_is_refused_at_connect_time_even_with_allow_insecure() -> None:
    resolve = _resolver({"imds.example": ["169.254.169.254"]})
    async with guarded_client(INSECURE, resolver=resolve) as client:
        with pytest.raises(RemoteRefusedError, match=r"imds.example resolves to cloud metadata"):
            await client.get("http://imds.example/latest/meta-data/")


async def test_a_failed_lookup_is_an_httpx_connect_error() -> None:
    async def fail(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async with guarded_client(STRICT, resolver=fail) as client:
        with pytest.raises(httpx.ConnectError, match=r"could not resolve nowhere\.example"):
            await client.get("https://nowhere.example/")
