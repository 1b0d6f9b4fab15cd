"""A catalog served over HTTP(S), fetched with conditional requests.

``http_get`` is the one place catalog code talks HTTP: it bounds redirects, the
body size and the total time, refuses a redirect from https to http, and turns
every httpx/ssl/socket failure into a :class:`~mcpkit.errors.SourceError` that
names the URL and the reason.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import httpx

from mcpkit.catalog.document import MAX_DOCUMENT_BYTES, decode_document, parse_catalog
from mcpkit.catalog.sources.base import (
    FetchResult,
    Validators,
    content_hash,
    parsed_result,
)
from mcpkit.errors import CatalogFormatError, SourceError, UsageError

MAX_REDIRECTS = 5
URL_HINT = "check the URL, or remove the source with 'mcpkit catalog source rm NAME'"
_ACCEPT = "application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.1"


def _user_agent() -> str:
    try:
        return f"mcpkit/{version('mcpkit')}"
    except PackageNotFoundError:
        return "mcpkit"


@dataclass(frozen=True)
class HttpAnswer:
    """A complete HTTP answer: final URL, status, headers and (capped) body."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes


def check_http_url(location: str) -> None:
    """Raise :class:`UsageError` unless ``location`` is an absolute http(s) URL."""
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise UsageError(f"{location!r} is not a valid URL: {exc}", hint=URL_HINT) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(
            f"{location!r} is not an http(s) URL",
            hint="catalog URLs start with https:// (or http://)",
        )


@contextmanager
def open_client(client: httpx.Client | None, timeout: float) -> Iterator[httpx.Client]:
    """Yield ``client``, or a fresh bounded client closed on exit."""
    if client is not None:
        yield client
        return
    with httpx.Client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=timeout,
        headers={"User-Agent": _user_agent()},
    ) as own:
        yield own


def http_get(
    client: httpx.Client,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> HttpAnswer:
    """GET ``url``: 2xx and 304 come back, everything else is a ``SourceError``.

    ``timeout`` bounds each network step *and* the whole body download, so a
    server that trickles bytes forever is cut off too.
    """
    deadline = time.monotonic() + timeout
    try:
        with client.stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=timeout
        ) as response:
            _check_hops(url, response)
            status = response.status_code
            if status >= 400 or (300 <= status < 400 and status != 304):
                phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
                raise SourceError(f"cannot fetch {url}: HTTP {status}{phrase}", hint=URL_HINT)
            body = bytearray()
            if status != 304:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise SourceError(
                            f"cannot fetch {url}: the answer is larger than "
                            f"{max_bytes // (1024 * 1024)} MiB",
                            hint=URL_HINT,
                        )
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("total time exceeded")
            return HttpAnswer(str(response.url), status, response.headers, bytes(body))
    except httpx.TimeoutException as exc:
        raise SourceError(
            f"cannot fetch {url}: timed out after {timeout:g} s", hint=URL_HINT
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise SourceError(
            f"cannot fetch {url}: too many redirects (more than {MAX_REDIRECTS})", hint=URL_HINT
        ) from exc
    except httpx.UnsupportedProtocol as exc:
        raise SourceError(
            f"cannot fetch {url}: redirected to a URL that is not http(s)", hint=URL_HINT
        ) from exc
    except httpx.ConnectError as exc:
        raise SourceError(f"cannot fetch {url}: {_connect_reason(exc)}", hint=URL_HINT) from exc
    except httpx.HTTPError as exc:
        raise SourceError(
            f"cannot fetch {url}: {type(exc).__name__}: {exc or 'no details'}", hint=URL_HINT
        ) from exc


def _check_hops(url: str, response: httpx.Response) -> None:
    if httpx.URL(url).scheme != "https":
        return
    for hop in [*response.history, response]:
        if hop.url.scheme != "https":
            raise SourceError(
                f"cannot fetch {url}: redirected from https to plain http ({hop.url})",
                hint="ask the publisher to serve the catalog over https only",
            )


def _connect_reason(exc: BaseException) -> str:  # noqa: PLR0911 - one answer per cause
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate not valid ({seen.verify_message or seen.reason})"
        if isinstance(seen, ssl.SSLError):
            return f"TLS handshake failed ({seen.reason or seen})"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host not found"
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    if "certificate" in text:
        return f"TLS certificate not valid ({exc})"
    if "refused" in text:
        return "connection refused"
    return f"connection failed ({exc or type(exc).__name__})"


def not_a_catalog(answer: HttpAnswer, exc: CatalogFormatError) -> SourceError:
    """The error for a body that is not a YAML/JSON mapping at all."""
    ctype = answer.headers.get("content-type", "")
    if "html" in ctype.lower():
        message = f"{answer.url}: not YAML/JSON: the server answered with an HTML page ({ctype})"
    else:
        message = exc.message
    return SourceError(message, hint=URL_HINT)


class UrlSource:
    """A catalog document at an http(s) URL (ours or a Docker catalog file)."""

    kind = "url"

    def __init__(
        self, location: str, *, client: httpx.Client | None = None, timeout: float = 15.0
    ) -> None:
        check_http_url(location)
        self.location = location
        self._client = client
        self._timeout = timeout

    def fetch(self, validators: Validators) -> FetchResult:
        """GET the document; 304 or identical bytes mean "not modified"."""
        headers = {"Accept": _ACCEPT}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        with open_client(self._client, self._timeout) as client:
            answer = http_get(client, self.location, timeout=self._timeout, headers=headers)
        etag = answer.headers.get("etag")
        modified = answer.headers.get("last-modified")
        if answer.status == 304:
            kept = Validators(
                etag=etag or validators.etag,
                last_modified=modified or validators.last_modified,
                content_hash=validators.content_hash,
            )
            return FetchResult(document=None, validators=kept)
        digest = content_hash([answer.body])
        new = Validators(etag=etag, last_modified=modified, content_hash=digest)
        if digest == validators.content_hash:
            return FetchResult(document=None, validators=new)
        try:
            data = decode_document(answer.body, origin=self.location)
        except CatalogFormatError as exc:
            raise not_a_catalog(answer, exc) from exc
        return parsed_result(parse_catalog(data, origin=self.location), new)
