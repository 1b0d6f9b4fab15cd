"""The SSRF guard for every HTTP request mcpkit makes to a remote MCP or OAuth server.

A catalog entry names a URL; the gateway then talks to it with the user's tokens. Without a
guard, an entry (or a redirect, or a DNS answer) could point that traffic at the machine
itself, the local network or a cloud metadata service. The rules:

* :func:`check_url` is the static check: ``https`` only, no userinfo, and a host that is
  neither a forbidden IP literal (in any spelling a resolver accepts: ``2130706433``,
  ``0x7f.1``, ``::ffff:127.0.0.1``…) nor a forbidden name (``localhost``, metadata names).
* :func:`guarded_client` builds an ``httpx.AsyncClient`` that runs :func:`check_url` on every
  request it sends (each redirect hop included) and checks again at connect time.

The connect-time check lives in an ``httpcore`` network backend wrapped around the default
one. httpcore hands ``connect_tcp`` the origin's host name; the wrapper resolves it itself,
refuses the host if *any* address is forbidden, then connects to one of the addresses it
checked. No second resolution happens, so a DNS answer that changes between check and
connect (rebinding) cannot slip through. TLS is unaffected: httpcore starts TLS on the
returned stream with ``server_hostname`` set to the origin's host name, so SNI and
certificate verification stay on the name the user configured, never on the IP. The
backend is the layer where this fits exactly: an httpx transport or event hook sees URLs
but not the addresses finally dialled, and a custom resolver would still leave httpcore
to resolve again. httpx does not expose ``network_backend``, so the transport's pool is
replaced by an identical one that has the guarded backend; if httpx's layout ever changes,
building the client fails rather than run unguarded.

``allow_insecure`` (``--allow-insecure-remote``) lifts the scheme and address checks for
local testing. Two checks stay even then, since no test needs them lifted: cloud metadata
addresses and names, and credentials in the URL's userinfo.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any
from urllib.parse import urlsplit

import anyio
import certifi
import httpcore
import httpx

from mcpkit.errors import InvalidInputError, ServerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Resolves a host name to IP address strings (``connect_tcp``'s seam; tests inject one).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

INSECURE_FLAG = "--allow-insecure-remote"


class RemoteRefusedError(ServerError):
    """A remote URL or the address it resolves to is not allowed by the SSRF guard.

    A :class:`ServerError` because the refusal can come at any step of reaching a server
    (configuration, a redirect, a DNS answer at connect time), and it means the same for
    the caller: this server cannot be reached. It is not an ``httpx.HTTPError``: it leaves
    ``client.send`` as it is.
    """

    default_code = "remote-refused"


@dataclass(frozen=True)
class RemotePolicy:
    """What remote addresses mcpkit may reach, and how long it waits for them."""

    #: ``--allow-insecure-remote``: lifts the https and address checks, for local testing.
    allow_insecure: bool = False
    #: CIDRs allowed although private (a company's 10.1.0.0/16); https is still required.
    allow_networks: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    #: Per read/write; streams pass a longer or no read timeout to :func:`guarded_client`.
    timeout: float = 30.0

    def __post_init__(self) -> None:
        _parse_networks(self.allow_networks)


@functools.lru_cache(maxsize=64)
def _parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    parsed: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            parsed.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise InvalidInputError(
                f"allowed remote network {cidr!r} is not a CIDR network",
                hint="write networks like 10.1.0.0/16 or fd12:3456::/48",
            ) from None
    return tuple(parsed)


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), label) for net, label in pairs)


# First match wins: specific entries come before the networks that contain them.
_V4_CLASSES = _nets(
    ("0.0.0.0/32", "unspecified address"),
    ("0.0.0.0/8", "'this network' address"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "loopback address"),
    ("169.254.0.0/16", "link-local address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.0/24", "reserved (IETF protocol assignment) address"),
    ("192.0.2.0/24", "documentation address"),
    ("192.88.99.0/24", "reserved (6to4 relay anycast) address"),
    ("192.168.0.0/16", "private address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("255.255.255.255/32", "broadcast address"),
    ("240.0.0.0/4", "reserved address"),
)
_V6_CLASSES = _nets(
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("64:ff9b:1::/48", "private (local-use NAT64) address"),
    ("100::/64", "reserved (discard-only) address"),
    ("2001:2::/48", "benchmarking address"),
    ("2001:db8::/32", "documentation address"),
    ("2001::/23", "reserved (IETF protocol assignment) address"),
    ("3fff::/20", "documentation address"),
    ("5f00::/16", "reserved (SRv6) address"),
    ("fc00::/7", "private (unique local) address"),
    ("fe80::/10", "link-local address"),
    ("fec0::/10", "site-local address"),
    ("ff00::/8", "multicast address"),
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean… instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS pod identity agent
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (public-looking, host-internal)
        "192.0.0.192",  # Oracle Cloud Classic
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)
_METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"}
)
# A host made of numbers in decimal, octal or hex, as inet_aton and URL parsers read it.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.I)


@dataclass(frozen=True)
class _Verdict:
    label: str  # "loopback address 127.0.0.1"
    metadata: bool = False
    networks: tuple[IPAddress, ...] = ()  # the addresses allow_networks may let through


def _classify(ip: IPAddress) -> _Verdict | None:
    """The forbidden class an address belongs to, or None for a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _classify_v4(ip)
    bare = ipaddress.IPv6Address(int(ip))  # drops a %scope, which the tables don't carry
    if bare in _METADATA_ADDRESSES:
        return _Verdict(f"cloud metadata address {ip}", metadata=True)
    embedded = _embedded_v4(bare)
    if embedded is not None:
        kind, v4 = embedded
        inner = _classify_v4(v4)
        if inner is None:
            return None
        return _Verdict(f"{kind} {inner.label} in {ip}", inner.metadata, (bare, v4))
    label = next((label for net, label in _V6_CLASSES if bare in net), None)
    if label is None and bare in _V4_COMPATIBLE:
        label = "reserved (IPv4-compatible) address"
    if label is None and bare not in _V6_GLOBAL_UNICAST:
        label = "reserved address"
    return None if label is None else _Verdict(f"{label} {ip}", networks=(bare,))


def _classify_v4(ip: ipaddress.IPv4Address) -> _Verdict | None:
    if ip in _METADATA_ADDRESSES:
        return _Verdict(f"cloud metadata address {ip}", metadata=True)
    label = next((label for net, label in _V4_CLASSES if ip in net), None)
    return None if label is None else _Verdict(f"{label} {ip}", networks=(ip,))


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """An IPv4 address that connecting to ``ip`` would reach, with how it is embedded."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in _NAT64:
        return "NAT64-embedded", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4-embedded", ip.sixtofour
    return None


def _refusal(ip: IPAddress, policy: RemotePolicy) -> _Verdict | None:
    """Why ``ip`` may not be reached under ``policy``, or None when it may."""
    verdict = _classify(ip)
    if verdict is None or verdict.metadata:
        return verdict
    if policy.allow_insecure:
        return None
    allowed = _parse_networks(policy.allow_networks)
    if any(addr in net for addr in verdict.networks for net in allowed):
        return None
    return verdict


def _literal_address(host: str) -> IPAddress | None:
    """The address an IP-literal host denotes, in any spelling a resolver accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise _refused(
                f"host {host!r} looks like an IP address but is not a valid one",
                "write the server's host name or a dotted IPv4 address",
            ) from None
    return None


def _refused(reason: str, hint: str, url: str | httpx.URL | None = None) -> RemoteRefusedError:
    where = f"refused remote URL {describe_url(url)}: " if url is not None else "refused: "
    return RemoteRefusedError(where + reason, hint=hint)


def _address_hint(metadata: bool) -> str:
    if metadata:
        return "cloud metadata services are never reachable as remote servers"
    return (
        "remote servers must be public; for a server on your own network add its network "
        f"to the allowed networks (e.g. 10.1.0.0/16), or pass {INSECURE_FLAG} "
        "to reach a local test server"
    )


def check_url(url: str | httpx.URL, policy: RemotePolicy) -> httpx.URL:
    """Check a remote URL statically and return it parsed; raise :class:`RemoteRefusedError`.

    The host name is not resolved here: names are checked when the guarded client connects.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _refused(f"not a valid URL ({exc})", "write a full https:// URL", url) from None
    scheme = parsed.scheme.lower()
    if scheme not in ("https", "http"):
        raise _refused(f"scheme {scheme or '(none)'!r} is not http(s)", "use https://", parsed)
    if parsed.userinfo:
        raise _refused(
            "the URL carries credentials (user:password@)",
            "remove them from the URL; put credentials in the server's headers or use OAuth",
            parsed,
        )
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise _refused("the URL has no host", "write a full https:// URL", parsed)
    if host in _METADATA_NAMES:
        raise _refused(f"cloud metadata host name {host}", _address_hint(metadata=True), parsed)
    if (host == "localhost" or host.endswith(".localhost")) and not policy.allow_insecure:
        raise _refused(f"loopback host name {host}", _address_hint(metadata=False), parsed)
    ip = _literal_address(host)
    if ip is not None:
        verdict = _refusal(ip, policy)
        if verdict is not None:
            raise _refused(verdict.label, _address_hint(verdict.metadata), parsed)
    # Last, so that a URL that is both http and forbidden is refused for its address.
    if scheme == "http" and not policy.allow_insecure:
        raise _refused(
            "plain http is refused; remote servers must use https",
            f"use the server's https:// URL, or pass {INSECURE_FLAG} for a local test server",
            parsed,
        )
    return parsed


def describe_url(url: str | httpx.URL | None) -> str:
    """The URL as it may be shown in logs and errors: no userinfo, query or fragment."""
    try:
        parsed = httpx.URL(url) if url is not None else None
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is not None and parsed.host:
        host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
        port = f":{parsed.port}" if parsed.port is not None else ""
        return f"{parsed.scheme}://{host}{port}{parsed.path}"
    # Unparseable: cut at the markers rather than guess, so nothing secret leaks.
    text = str(url or "")
    try:
        split = urlsplit(text)
    except ValueError:
        return "(unparseable URL)"
    netloc = split.netloc.rpartition("@")[2]
    return f"{split.scheme}://{netloc}{split.path}" if split.scheme else "(unparseable URL)"


async def _system_resolve(host: str, port: int) -> Sequence[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore backend that resolves, checks every address, and dials a checked one."""

    def __init__(
        self,
        policy: RemotePolicy,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolve = resolver or _system_resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to ``host`` only if every address it resolves to is allowed."""
        deadline = None if timeout is None else anyio.current_time() + timeout
        try:
            with anyio.fail_after(timeout):
                resolved = await self._addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        if not resolved:
            raise httpcore.ConnectError(f"{host} resolved to no address")
        for address in resolved:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                raise _refused(
                    f"{host} resolved to {address!r}, which is not an IP address",
                    "check the resolver configuration",
                ) from None
            verdict = _refusal(ip, self._policy)
            if verdict is not None:
                shown = verdict.label if host == address else f"{host} resolves to {verdict.label}"
                raise _refused(f"will not connect: {shown}", _address_hint(verdict.metadata))
        failure: httpcore.ConnectError | None = None
        for address in resolved:
            left = None if deadline is None else max(deadline - anyio.current_time(), 0.0)
            try:
                return await self._inner.connect_tcp(
                    address, port, left, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # noqa: S101 -- resolved is not empty
        raise failure

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return list(dict.fromkeys(await self._resolve(host, port)))
        return [host]  # an IP literal needs no lookup (and gets none)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: a remote server is never a local socket."""
        raise _refused(f"unix socket {path}", "remote servers are reached over TCP")

    async def sleep(self, seconds: float) -> None:
        """Delegate (httpcore sleeps between connect retries)."""
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncBaseTransport):
    """Runs :func:`check_url` on every request, then sends it through the pinned pool."""

    def __init__(self, policy: RemotePolicy, inner: httpx.AsyncHTTPTransport) -> None:
        self._policy = policy
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(request.url, self._policy)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _pinned_transport(
    ssl_context: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend
) -> httpx.AsyncHTTPTransport:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False, limits=limits)
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        # Fail closed: an unexpected httpx layout must not yield an unguarded client.
        raise TypeError("httpx.AsyncHTTPTransport has no _pool to guard; check httpx version")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=backend,
    )
    return transport


def default_ssl_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The trust store httpx would use: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi."""
    env = os.environ if environ is None else environ
    if env.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    if env.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=env["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


def guarded_client(
    policy: RemotePolicy,
    *,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
    read_timeout: float | EllipsisType | None = ...,
    verify: ssl.SSLContext | None = None,
    environ: Mapping[str, str] | None = None,
    resolver: Resolver | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that only reaches what ``policy`` allows.

    Every request (each redirect hop and each request of ``auth``'s flow included) passes
    :func:`check_url`, and every connection is dialled by :class:`GuardedNetworkBackend`.
    Environment proxies are ignored (``trust_env=False``): through a proxy the guard would
    check the proxy, not the server. The trust store still follows ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` from ``environ`` (default ``os.environ``) unless ``verify`` is given.
    ``read_timeout``: ``...`` means ``policy.timeout``; ``None`` means no read timeout
    (long-lived streams). A refusal raises :class:`RemoteRefusedError` out of ``send``.
    """
    ssl_context = verify if verify is not None else default_ssl_context(environ)
    backend = GuardedNetworkBackend(policy, resolver=resolver)
    transport = _GuardedTransport(policy, _pinned_transport(ssl_context, backend))
    read = policy.timeout if isinstance(read_timeout, EllipsisType) else read_timeout
    timeout = httpx.Timeout(
        connect=policy.connect_timeout, read=read, write=policy.timeout, pool=policy.timeout
    )
    return httpx.AsyncClient(
        auth=auth,
        headers=headers,
        follow_redirects=follow_redirects,
        timeout=timeout,
        transport=transport,
        trust_env=False,
    )
