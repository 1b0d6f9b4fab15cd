"""The call log: records, argument shapes, file mode, rotation."""

from __future__ import annotations

import io
import os
import stat
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpkit.errors import InvalidInputError
from mcpkit.gateway import calllog
from mcpkit.gateway.calllog import MAX_DEPTH, MAX_KEYS, TYPE_NAMES, CallLog, shape_of
from mcpkit.gateway.interceptors import CallContext

CTX = CallContext("dev", "github", "github__create_issue", "create_issue", "sess-1")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in _leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in _leaves(child)]
    return [value]


def _check_shape(shape: Any) -> None:
    """Every string in a shape (outside keys) is a type name; every number an array length."""
    if isinstance(shape, str):
        assert shape in TYPE_NAMES
    elif isinstance(shape, dict):
        for child in shape.values():
            _check_shape(child)
    else:
        assert isinstance(shape, list)
        if shape:
            item, length = shape
            _check_shape(item)
            assert isinstance(length, int) and not isinstance(length, bool)
            assert length > 0


@given(json_values)
def test_shape_is_made_only_of_type_names_and_lengths(value: Any) -> None:
    _check_shape(shape_of(value))


def _shape_values(shape: Any) -> list[Any]:
    """Every scalar of a shape that is not a key."""
    if isinstance(shape, dict):
        return [v for child in shape.values() for v in _shape_values(child)]
    if isinstance(shape, list):
        return [v for child in shape for v in _shape_values(child)]
    return [shape]


def _list_lengths(value: Any) -> set[int]:
    if isinstance(value, dict):
        return {n for child in value.values() for n in _list_lengths(child)}
    if isinstance(value, list):
        return {len(value)} | {n for child in value for n in _list_lengths(child)}
    return set()


@given(json_values)
def test_shape_never_contains_an_input_value(value: Any) -> None:
    seen = _shape_values(shape_of(value))
    lengths = _list_lengths(value)
    for leaf in _leaves(value):
        if isinstance(leaf, str):
            assert leaf in TYPE_NAMES or leaf not in seen
        elif isinstance(leaf, int | float) and not isinstance(leaf, bool) and leaf in seen:
            # Only an array length can be a number in a shape.
            assert leaf in lengths


def test_shape_of_a_typical_call() -> None:
    arguments = {
        "owner": "octocat",
        "labels": ["bug", "p1"],
        "draft": False,
        "count": 3,
        "ratio": 0.5,
        "assignee": None,
        "body": {"text": "secret text"},
        "empty": [],
    }
    assert shape_of(arguments) == {
        "owner": "string",
        "labels": ["string", 2],
        "draft": "boolean",
        "count": "integer",
        "ratio": "number",
        "assignee": "null",
        "body": {"text": "string"},
        "empty": [],
    }


def test_shape_is_bounded_in_depth_and_keys() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 3):
        deep = {"k": [deep]}
    shape = shape_of(deep)
    depth = 0
    while isinstance(shape, dict | list):
        shape = shape["k"] if isinstance(shape, dict) else shape[0]
        depth += 1
    assert depth == MAX_DEPTH
    assert shape in ("object", "array")
    wide = shape_of({f"k{i}": i for i in range(MAX_KEYS + 10)})
    assert len(wide) == MAX_KEYS + 1
    assert wide["…"] == "truncated"


def test_records_are_json_lines_without_values(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "calls.jsonl"
    stream = io.StringIO()
    log = CallLog(path, stream=stream)
    log.record(CTX, {"token": "hunter2-hunter2"}, duration=0.0412346, outcome="ok")
    log.record(CTX, {"n": 42}, duration=0.001, outcome="blocked", error="github-token")
    log.close()
    text = path.read_text()
    assert text == stream.getvalue()
    assert "hunter2" not in text
    first, second = (orjson.loads(line) for line in text.splitlines())
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert first | {"ts": None} == {
        "ts": None,
        "profile": "dev",
        "server": "github",
        "tool": "github__create_issue",
        "original_tool": "create_issue",
        "session": "sess-1",
        "shape": {"token": "string"},
        "duration_ms": 41.235,
        "outcome": "ok",
        "error": None,
    }
    assert (second["outcome"], second["error"], second["shape"]) == (
        "blocked",
        "github-token",
        {"n": "integer"},
    )


def test_log_file_is_private_and_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text('{"earlier": true}\n')
    path.chmod(0o600)
    log = CallLog(path)
    log.record(CTX, {}, duration=0.0, outcome="ok")
    log.close()
    fresh = tmp_path / "new" / "calls.jsonl"
    CallLog(fresh).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0] == '{"earlier": true}'
    assert len(lines) == 2


def test_log_rotates_keeping_three_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calllog, "MAX_BYTES", 1000)
    path = tmp_path / "calls.jsonl"
    log = CallLog(path)
    for _ in range(100):
        log.record(CTX, {"a": "b"}, duration=0.0, outcome="ok")
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["calls.jsonl", "calls.jsonl.1", "calls.jsonl.2", "calls.jsonl.3"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 1000
        for line in p.read_text().splitlines():
            assert orjson.loads(line)["outcome"] == "ok"


def test_concurrent_writers_never_interleave_records(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    logs = [CallLog(path) for _ in range(4)]

    def write(log: CallLog) -> None:
        for _ in range(200):
            log.record(CTX, {"x": list(range(20))}, duration=0.0, outcome="ok")

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for log in logs:
        log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 800
    assert all(orjson.loads(line)["shape"] == {"x": ["integer", 20]} for line in lines)


def test_an_unwritable_log_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(InvalidInputError) as caught:
        CallLog(blocker / "calls.jsonl")
    assert "cannot open the call log" in caught.value.message
    assert caught.value.hint
    assert blocker.read_text() == "not a directory"


def test_a_broken_stream_does_not_fail_the_call(tmp_path: Path) -> None:
    stream = io.StringIO()
    stream.close()
    log = CallLog(tmp_path / "calls.jsonl", stream=stream)
    log.record(CTX, {}, duration=0.0, outcome="ok")
    log.close()
    assert (tmp_path / "calls.jsonl").read_text().count("\n") == 1
    assert os.access(tmp_path / "calls.jsonl", os.R_OK)
