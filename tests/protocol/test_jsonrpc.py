"""JSON-RPC framing: parsing, message builders and the shape check the transports run."""

from __future__ import annotations

from typing import Any

import pytest

from mcpkit.protocol import jsonrpc


def test_loads_parses_json_and_raises_parse_error_for_anything_else() -> None:
    assert jsonrpc.loads(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')["method"] == "ping"
    assert jsonrpc.loads("[1]") == [1]
    with pytest.raises(jsonrpc.ParseError):
        jsonrpc.loads(b"{not json")
    with pytest.raises(jsonrpc.ParseError):
        jsonrpc.loads(b"")


def test_builders_make_the_four_kinds_of_message() -> None:
    req = jsonrpc.request(7, "tools/list")
    assert req == {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
    assert jsonrpc.request("a", "x", {"k": 1})["params"] == {"k": 1}
    note = jsonrpc.notification("notifications/initialized")
    assert note == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert jsonrpc.result(7, {}) == {"jsonrpc": "2.0", "id": 7, "result": {}}
    err = jsonrpc.error(7, jsonrpc.INVALID_PARAMS, "bad", {"why": 1})
    assert err["error"] == {"code": -32602, "message": "bad", "data": {"why": 1}}
    assert "data" not in jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, "x")["error"]
    assert jsonrpc.is_request(req) and not jsonrpc.is_notification(req)
    assert jsonrpc.is_notification(note) and not jsonrpc.is_request(note)
    assert jsonrpc.is_response(err) and not jsonrpc.is_response(req)


def test_dumps_round_trips_through_loads() -> None:
    msg = jsonrpc.request(1, "tools/call", {"name": "echo", "arguments": {"t": "é\n"}})
    assert jsonrpc.loads(jsonrpc.dumps(msg)) == msg


@pytest.mark.parametrize(
    "msg",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": "abc", "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}},
    ],
)
def test_check_accepts_well_formed_messages(msg: dict[str, Any]) -> None:
    assert jsonrpc.check(msg) is None


@pytest.mark.parametrize(
    ("msg", "words"),
    [
        ([{"jsonrpc": "2.0", "method": "ping"}], "JSON object"),
        ("ping", "JSON object"),
        ({"id": 1, "method": "ping"}, '"jsonrpc": "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, '"jsonrpc": "2.0"'),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, "method must be a string"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, "id must be"),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, "id must be"),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, "id must be"),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, "id must be"),
        ({"jsonrpc": "2.0", "id": 1, "method": "x", "params": "s"}, "params must be"),
        ({"jsonrpc": "2.0", "id": 1}, "needs a method, a result or an error"),
        ({"jsonrpc": "2.0", "result": {}}, "id"),
        ({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {}}, "both"),
    ],
    ids=[
        "batch",
        "string",
        "no-version",
        "old-version",
        "method-type",
        "float-id",
        "null-request-id",
        "bool-id",
        "object-id",
        "params-type",
        "nothing",
        "response-without-id",
        "result-and-error",
    ],
)
def test_check_says_why_a_message_is_not_json_rpc(msg: Any, words: str) -> None:
    problem = jsonrpc.check(msg)
    assert problem is not None
    assert words in problem
