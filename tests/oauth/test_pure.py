"""The OAuth maths and wire encoding: plain functions over plain data."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpkit.catalog.model import SERVER_ID_RE
from mcpkit.oauth import _protocol
from mcpkit.oauth.credentials import (
    credential_key,
    decode_server,
    encode_server,
    parse_credential_key,
)
from mcpkit.oauth.discovery import (
    canonical_url,
    parse_challenge,
    resource_matches,
    resource_metadata_urls,
    server_metadata_urls,
)
from mcpkit.oauth.model import ClientRecord, TokenRecord, token_state
from mcpkit.secrets.base import validate_key

NOW = 1_000_000.0


def _token(**kw: object) -> TokenRecord:
    fields: dict[str, object] = {
        "server": "acme",
        "resource": "https://mcp.example.com/mcp",
        "access_token": "at-secret",
        "refresh_token": "rt-secret",
        "issuer": "https://auth.example.com",
        "token_endpoint": "https://auth.example.com/token",
        "client_id": "c1",
        "obtained_at": NOW - 3600,
        "expires_at": NOW + 3600,
    }
    fields.update(kw)
    return TokenRecord.model_validate(fields)


# -- expiry -------------------------------------------------------------------------------


def test_a_token_far_from_expiry_is_ok_and_one_inside_the_skew_is_expiring() -> None:
    assert token_state(_token(expires_at=NOW + 600), NOW, 60) == "ok"
    assert token_state(_token(expires_at=NOW + 30), NOW, 60) == "expiring"


def test_an_expired_token_is_refreshable_only_with_a_refresh_token() -> None:
    assert token_state(_token(expires_at=NOW - 1), NOW, 60) == "expired"
    assert token_state(_token(expires_at=NOW - 1, refresh_token=None), NOW, 60) == (
        "needs-authorization"
    )


def test_a_short_lived_token_is_refreshed_at_half_its_life_not_on_every_request() -> None:
    fresh = _token(obtained_at=NOW, expires_at=NOW + 40)
    assert token_state(fresh, NOW + 10, 60) == "ok"
    assert token_state(fresh, NOW + 21, 60) == "expiring"


def test_a_marked_or_missing_credential_reports_its_state() -> None:
    assert token_state(_token(needs_authorization=True), NOW, 60) == "needs-authorization"
    assert token_state(None, NOW, 60) == "none"
    assert token_state(_token(expires_at=None), NOW, 60) == "ok"


def test_token_values_never_appear_in_a_records_repr() -> None:
    text = repr(_token()) + repr(ClientRecord(client_id="c", client_secret="cs-secret", issuer="x"))
    assert "secret" not in text


# -- storage keys -------------------------------------------------------------------------


@given(st.from_regex(SERVER_ID_RE, fullmatch=True))
def test_every_server_id_encodes_to_one_valid_key_segment_and_back(server: str) -> None:
    segment = encode_server(server)
    assert "/" not in segment
    assert decode_server(segment) == server
    for scope in ("", "dev"):
        key = credential_key(server, scope, "token")
        if len(key) <= 255:
            assert validate_key(key) == key
            assert parse_credential_key(key) == (server, scope, "token")


def test_keys_of_other_features_are_not_taken_for_credentials() -> None:
    assert parse_credential_key("global/github.token") is None
    assert parse_credential_key("oauth/global/acme/other") is None
    assert parse_credential_key("oauth/profile/dev/io.github.x_sy/client") == (
        "io.github.x/y",
        "dev",
        "client",
    )


# -- discovery helpers --------------------------------------------------------------------


def test_the_bearer_challenge_parameters_are_read_quoted_or_not() -> None:
    header = (
        'Bearer error="invalid_token", resource_metadata="https://m.example/.well-known/'
        'oauth-protected-resource/mcp", scope="a b"'
    )
    assert parse_challenge(header) == {
        "error": "invalid_token",
        "resource_metadata": "https://m.example/.well-known/oauth-protected-resource/mcp",
        "scope": "a b",
    }
    assert parse_challenge("Bearer realm=x, scope=read") == {"realm": "x", "scope": "read"}
    assert parse_challenge('Basic realm="x"') == {}
    assert parse_challenge(None) == {}


def test_another_schemes_challenge_after_bearer_is_not_mixed_in() -> None:
    header = 'Bearer scope="a", Basic realm="other"'
    assert parse_challenge(header) == {"scope": "a"}


def test_resource_metadata_is_looked_up_hint_first_then_path_then_root() -> None:
    assert resource_metadata_urls("https://m.example/v1/mcp", "https://m.example/prm") == [
        "https://m.example/prm",
        "https://m.example/.well-known/oauth-protected-resource/v1/mcp",
        "https://m.example/.well-known/oauth-protected-resource",
    ]
    assert resource_metadata_urls("https://m.example", None) == [
        "https://m.example/.well-known/oauth-protected-resource"
    ]


def test_authorization_server_metadata_follows_the_mcp_spec_order() -> None:
    assert server_metadata_urls("https://auth.example/tenant1") == [
        "https://auth.example/.well-known/oauth-authorization-server/tenant1",
        "https://auth.example/.well-known/openid-configuration/tenant1",
        "https://auth.example/tenant1/.well-known/openid-configuration",
    ]
    assert server_metadata_urls("https://auth.example/") == [
        "https://auth.example/.well-known/oauth-authorization-server",
        "https://auth.example/.well-known/openid-configuration",
    ]


def test_canonical_urls_drop_default_ports_case_fragments_and_a_lone_slash() -> None:
    assert canonical_url("HTTPS://MCP.Example.com:443/") == "https://mcp.example.com"
    assert canonical_url("https://mcp.example.com/mcp#x") == "https://mcp.example.com/mcp"
    assert canonical_url("http://127.0.0.1:8080/mcp") == "http://127.0.0.1:8080/mcp"


@pytest.mark.parametrize(
    ("resource", "ok"),
    [
        ("https://m.example/mcp", True),
        ("https://M.example:443/mcp/", True),
        ("https://m.example", True),
        ("https://m.example/mc", False),
        ("https://m.example/other", False),
        ("https://evil.example/mcp", False),
        ("http://m.example/mcp", False),
    ],
)
def test_resource_metadata_must_name_the_server_or_a_parent_on_its_origin(
    resource: str, ok: bool
) -> None:
    assert resource_matches(resource, "https://m.example/mcp") is ok


# -- wire encoding (authlib) --------------------------------------------------------------


def test_pkce_s256_matches_the_rfc_7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert _protocol.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert len(_protocol.new_code_verifier()) >= 43
    assert _protocol.new_state() != _protocol.new_state()


def test_the_authorization_url_carries_pkce_state_scopes_and_the_resource() -> None:
    url = _protocol.authorization_url(
        "https://auth.example/authorize?tenant=1",
        client_id="c1",
        redirect_uri="http://127.0.0.1:5555/callback",
        scopes=["a", "b"],
        state="s1",
        challenge="ch",
        resource="https://m.example/mcp",
    )
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "tenant": ["1"],
        "response_type": ["code"],
        "client_id": ["c1"],
        "redirect_uri": ["http://127.0.0.1:5555/callback"],
        "scope": ["a b"],
        "state": ["s1"],
        "code_challenge": ["ch"],
        "code_challenge_method": ["S256"],
        "resource": ["https://m.example/mcp"],
    }


def test_token_requests_authenticate_the_client_the_way_it_was_registered() -> None:
    public = ClientRecord(client_id="pub", issuer="x")
    headers, fields = _protocol.token_request(public, "refresh_token", refresh_token="r")
    assert "Authorization" not in headers
    assert fields == {"grant_type": "refresh_token", "client_id": "pub", "refresh_token": "r"}

    post = public.model_copy(
        update={"client_secret": "s3", "token_endpoint_auth_method": "client_secret_post"}
    )
    _, fields = _protocol.token_request(post, "refresh_token", refresh_token="r")
    assert fields["client_secret"] == "s3"
    assert fields["client_id"] == "pub"

    basic = post.model_copy(update={"token_endpoint_auth_method": "client_secret_basic"})
    headers, fields = _protocol.token_request(basic, "refresh_token", refresh_token="r")
    assert "client_secret" not in fields
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"pub:s3"


def test_a_revocation_request_names_the_token_and_its_kind() -> None:
    _, fields = _protocol.revocation_request(ClientRecord(client_id="c", issuer="x"), "t", "x_y")
    assert fields == {"token": "t", "token_type_hint": "x_y", "client_id": "c"}
