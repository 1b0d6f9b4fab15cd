"""The url source against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket

import httpx
import pytest

from conftest import LAST_MODIFIED, CatalogServer, TlsServer
from mcpkit.catalog.sources import UrlSource, Validators, make_source
from mcpkit.errors import CatalogFormatError, SourceError, UsageError


def test_a_catalog_url_is_parsed_and_its_validators_are_kept(
    catalog_server: CatalogServer,
) -> None:
    source = make_source("url", catalog_server.url("/catalog.yaml"))
    result = source.fetch(Validators())
    assert result.document is not None
    assert (result.document.name, result.document.description) == ("team", "Servers my team uses")
    [spec] = result.document.servers
    assert spec.id == "time"
    assert spec.source.type == "package"
    assert result.validators.etag == '"v1"'
    assert result.validators.last_modified == LAST_MODIFIED
    assert result.validators.content_hash is not None
    assert result.validators.content_hash.startswith("sha256:")
    assert result.warnings == []


def test_an_unchanged_catalog_answers_304_and_no_document(catalog_server: CatalogServer) -> None:
    source = make_source("url", catalog_server.url("/catalog.yaml"))
    first = source.fetch(Validators())
    second = source.fetch(first.validators)
    assert second.document is None
    assert second.not_modified
    assert second.validators == first.validators
    sent = catalog_server.requests[-1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == LAST_MODIFIED


def test_last_modified_alone_is_enough_for_a_304(catalog_server: CatalogServer) -> None:
    source = make_source("url", catalog_server.url("/catalog.yaml"))
    result = source.fetch(Validators(last_modified=LAST_MODIFIED, content_hash="sha256:old"))
    assert result.document is None
    assert result.validators.content_hash == "sha256:old"


def test_a_changed_catalog_is_fetched_again(catalog_server: CatalogServer) -> None:
    source = make_source("url", catalog_server.url("/catalog.yaml"))
    first = source.fetch(Validators())
    catalog_server.etag = '"v2"'
    catalog_server.catalog = catalog_server.catalog.replace(b"id: time", b"id: clock")
    second = source.fetch(first.validators)
    assert second.document is not None
    assert [s.id for s in second.document.servers] == ["clock"]
    assert second.validators.etag == '"v2"'
    assert second.validators.content_hash != first.validators.content_hash


def test_same_bytes_without_validators_count_as_not_modified(
    catalog_server: CatalogServer,
) -> None:
    source = make_source("url", catalog_server.url("/plain.yaml"))
    first = source.fetch(Validators())
    assert first.document is not None
    assert first.validators.etag is None
    second = source.fetch(first.validators)
    assert second.document is None


def test_redirects_are_followed(catalog_server: CatalogServer) -> None:
    result = make_source("url", catalog_server.url("/to-catalog")).fetch(Validators())
    assert result.document is not None
    assert catalog_server.paths() == ["/to-catalog", "/catalog.yaml"]


def test_an_http_error_names_the_url_and_the_status(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/error")
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message == f"cannot fetch {url}: HTTP 500 Internal Server Error"
    assert info.value.hint is not None
    assert "mcpkit catalog source rm" in info.value.hint


def test_a_missing_page_is_a_404(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/nothing-here.yaml")
    with pytest.raises(SourceError, match="HTTP 404"):
        make_source("url", url).fetch(Validators())


def test_binary_garbage_is_not_yaml(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/garbage")
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message.startswith(f"{url}: not YAML/JSON: ")
    assert "UTF-8" in info.value.message


def test_an_html_page_is_reported_as_html(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/html")
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message == (
        f"{url}: not YAML/JSON: the server answered with an HTML page (text/html)"
    )


def test_a_valid_yaml_catalog_with_a_bad_server_is_a_format_error(
    catalog_server: CatalogServer,
) -> None:
    catalog_server.catalog = catalog_server.catalog.replace(b"registry: pypi", b"registry: cpan")
    url = catalog_server.url("/catalog.yaml")
    with pytest.raises(CatalogFormatError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message.startswith(f'{url}: servers[0] (id "time"): source.registry: ')


def test_a_response_that_never_ends_times_out(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/slow")
    with pytest.raises(SourceError) as info:
        make_source("url", url, timeout=0.5).fetch(Validators())
    assert info.value.message == f"cannot fetch {url}: timed out after 0.5 s"
    assert catalog_server.held.is_set()


def test_a_redirect_loop_stops(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/redirect-loop")
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message == f"cannot fetch {url}: too many redirects (more than 5)"
    assert len(catalog_server.requests) == 6


def test_a_body_over_ten_mib_is_refused(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/big")
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message == f"cannot fetch {url}: the answer is larger than 10 MiB"


def test_a_refused_connection_names_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/catalog.yaml"
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message == f"cannot fetch {url}: connection refused"


def test_an_untrusted_tls_certificate_is_refused(tls_server: TlsServer) -> None:
    url = tls_server.state.url("/catalog.yaml")
    with pytest.raises(SourceError) as info:
        make_source("url", url).fetch(Validators())
    assert info.value.message.startswith(f"cannot fetch {url}: TLS certificate not valid")


def test_a_given_client_is_used_and_can_trust_a_private_ca(tls_server: TlsServer) -> None:
    with httpx.Client(verify=tls_server.trusting_context()) as client:
        result = make_source("url", tls_server.state.url("/catalog.yaml"), client=client).fetch(
            Validators()
        )
    assert result.document is not None
    assert [s.id for s in result.document.servers] == ["time"]


def test_https_redirected_to_plain_http_is_refused(
    tls_server: TlsServer, catalog_server: CatalogServer
) -> None:
    url = tls_server.state.url("/to-plain-http")
    with (
        httpx.Client(verify=tls_server.trusting_context()) as client,
        pytest.raises(SourceError) as info,
    ):
        UrlSource(url, client=client).fetch(Validators())
    assert "redirected from https to plain http" in info.value.message
    assert url in info.value.message


@pytest.mark.parametrize("location", ["ftp://example.com/c.yaml", "file:///etc/passwd", "nope"])
def test_only_http_and_https_urls_are_accepted(location: str) -> None:
    with pytest.raises(UsageError) as info:
        UrlSource(location)
    assert "not an http(s) URL" in info.value.message
    assert info.value.hint
