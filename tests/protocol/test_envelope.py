"""The stateless era's envelope: every refusal, its code, and the HTTP status it maps to."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mcpkit.protocol import envelope as env
from mcpkit.protocol import jsonrpc

V = "2026-07-28"


def meta(**extra: Any) -> dict[str, Any]:
    return {env.VERSION_KEY: V, env.CAPABILITIES_KEY: {}, **extra}


def call(name: str = "echo", method: str = "tools/call", **meta_extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"_meta": meta(**meta_extra)}
    if method in ("tools/call", "prompts/get"):
        params["name"] = name
    if method == "resources/read":
        params["uri"] = name
    return jsonrpc.request(9, method, params)


def headers(msg: dict[str, Any], **override: str | None) -> dict[bytes, bytes]:
    base = {
        "mcp-protocol-version": V,
        "mcp-method": msg["method"],
        "mcp-name": msg["params"].get("name", msg["params"].get("uri")),
    }
    base.update(override)
    return {k.encode(): v.encode() for k, v in base.items() if v is not None}


def b64(text: str) -> str:
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


def test_envelope_is_the_meta_that_carries_a_protocol_version() -> None:
    assert env.envelope({"_meta": meta()}) == meta()
    assert env.envelope({"_meta": {"progressToken": 1}}) is None
    assert env.envelope({"_meta": "x"}) is None
    assert env.envelope("params") is None
    assert env.envelope(None) is None


def test_a_complete_envelope_passes() -> None:
    assert env.check_envelope(call(), meta()) is None


@pytest.mark.parametrize(
    ("bad_meta", "code", "words"),
    [
        ({env.VERSION_KEY: 20260728, env.CAPABILITIES_KEY: {}}, jsonrpc.INVALID_PARAMS, "string"),
        (
            {env.VERSION_KEY: "2025-11-25", env.CAPABILITIES_KEY: {}},
            env.UNSUPPORTED_VERSION,
            "Unsupported protocol version: 2025-11-25",
        ),
        ({env.VERSION_KEY: "1999-01-01", env.CAPABILITIES_KEY: {}}, -32022, "1999-01-01"),
        ({env.VERSION_KEY: V}, jsonrpc.INVALID_PARAMS, env.CAPABILITIES_KEY),
        ({env.VERSION_KEY: V, env.CAPABILITIES_KEY: []}, jsonrpc.INVALID_PARAMS, "clientCapab"),
    ],
    ids=["version-type", "handshake-version", "unknown-version", "no-caps", "caps-type"],
)
def test_an_unusable_envelope_gets_its_error(
    bad_meta: dict[str, Any], code: int, words: str
) -> None:
    msg = jsonrpc.request(9, "tools/list", {"_meta": bad_meta})
    problem = env.check_envelope(msg, bad_meta)
    assert problem is not None
    assert problem["id"] == 9
    assert problem["error"]["code"] == code
    assert words in problem["error"]["message"]


def test_an_unsupported_version_says_which_ones_are_supported() -> None:
    bad = {env.VERSION_KEY: "2099-01-01", env.CAPABILITIES_KEY: {}}
    problem = env.check_envelope(jsonrpc.request(1, "tools/list", {"_meta": bad}), bad)
    assert problem is not None
    assert problem["error"]["data"] == {"supported": [V], "requested": "2099-01-01"}


def test_matching_routing_headers_pass_for_every_name_bearing_method() -> None:
    for method in ("tools/call", "prompts/get", "resources/read"):
        msg = call("thing://x", method)
        assert env.check_headers(msg, headers(msg)) is None, method


def test_headers_may_be_left_out() -> None:
    msg = call()
    assert env.check_headers(msg, {}) is None


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"mcp-protocol-version": "2025-11-25"}, "MCP-Protocol-Version"),
        ({"mcp-method": "tools/list"}, "Mcp-Method"),
        ({"mcp-name": "other"}, "Mcp-Name"),
        ({"mcp-name": b64("other")}, "Mcp-Name"),
        ({"mcp-name": "=?base64?!!!?="}, "Mcp-Name"),
    ],
    ids=["version", "method", "name", "b64-name", "broken-b64"],
)
def test_a_routing_header_that_disagrees_with_the_body_is_a_header_mismatch(
    override: dict[str, str], words: str
) -> None:
    msg = call()
    problem = env.check_headers(msg, headers(msg, **override))
    assert problem is not None
    assert problem["error"]["code"] == env.HEADER_MISMATCH == -32020
    assert words in problem["error"]["message"]
    assert env.http_status(problem) == 400


def test_a_base64_name_header_matches_a_name_that_headers_cannot_carry() -> None:
    msg = call("café tool")
    assert env.check_headers(msg, headers(msg, **{"mcp-name": b64("café tool")})) is None


def test_a_non_canonical_base64_name_header_does_not_match() -> None:
    # "YQ==" is "a"; "YR==" decodes to "a" too, but only with non-zero padding bits.
    msg = call("a")
    assert env.check_headers(msg, headers(msg, **{"mcp-name": "=?base64?YR==?="})) is not None


def test_a_name_header_on_a_method_without_a_name_is_not_checked() -> None:
    msg = jsonrpc.request(3, "tools/list", {"_meta": meta()})
    hdrs = {b"mcp-protocol-version": V.encode(), b"mcp-method": b"tools/list", b"mcp-name": b"x"}
    assert env.check_headers(msg, hdrs) is None


def test_headers_on_a_request_with_no_envelope_ask_for_one() -> None:
    msg = jsonrpc.request(4, "tools/list", {})
    problem = env.check_headers(msg, {b"mcp-protocol-version": V.encode()})
    assert problem is not None
    assert problem["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert env.VERSION_KEY in problem["error"]["message"]


def test_check_headers_runs_the_envelope_checks_too() -> None:
    msg = jsonrpc.request(4, "tools/list", {"_meta": {env.VERSION_KEY: "2099-01-01"}})
    problem = env.check_headers(msg, {})
    assert problem is not None
    assert problem["error"]["code"] == env.UNSUPPORTED_VERSION


def test_the_era_of_an_http_request_follows_its_header_else_its_envelope() -> None:
    stateless, legacy = call(), jsonrpc.request(1, "tools/list", {})
    assert env.is_stateless_http(legacy, V)
    assert env.is_stateless_http(legacy, "2099-01-01")
    assert not env.is_stateless_http(stateless, "2025-06-18")
    assert env.is_stateless_http(stateless, "")
    assert not env.is_stateless_http(legacy, "")


def test_strip_removes_only_the_envelope_keys() -> None:
    params = {"name": "x", "_meta": meta(progressToken=5)}
    assert env.strip(params, params["_meta"]) == {"name": "x", "_meta": {"progressToken": 5}}
    bare = {"name": "x", "_meta": meta()}
    assert env.strip(bare, bare["_meta"]) == {"name": "x"}
    assert "_meta" in params  # the caller's params are not changed


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (jsonrpc.METHOD_NOT_FOUND, 404),
        (jsonrpc.PARSE_ERROR, 400),
        (jsonrpc.INVALID_REQUEST, 400),
        (jsonrpc.INVALID_PARAMS, 400),
        (env.HEADER_MISMATCH, 400),
        (env.MISSING_CAPABILITY, 400),
        (env.UNSUPPORTED_VERSION, 400),
        (jsonrpc.INTERNAL_ERROR, 200),
        (jsonrpc.SERVER_UNAVAILABLE, 200),
        (jsonrpc.RESOURCE_NOT_FOUND, 200),
    ],
)
def test_each_error_code_maps_to_its_http_status(code: int, status: int) -> None:
    assert env.http_status(jsonrpc.error(1, code, "x")) == status


def test_a_result_is_http_200() -> None:
    assert env.http_status(jsonrpc.result(1, {})) == 200
