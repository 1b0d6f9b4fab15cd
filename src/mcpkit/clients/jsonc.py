"""JSON and JSON-with-comments documents edited by splicing their text.

A small scanner records where every value, member key and comma sits; an edit replaces,
inserts or removes just those characters (the idea of VS Code's jsonc-parser ``modify``), so
everything else in the file stays byte for byte: comments, blank lines, key order, number
spelling, the byte-order mark and the newline style. New members take the indentation of their
siblings (or the parent's plus the file's indent unit, tabs or spaces) and are written as
pretty-printed JSON at that indent.

``strict`` documents are plain JSON, as Claude Desktop and Claude Code read them: a comment or
a trailing comma is a syntax error, because the client itself would reject the file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from mcpkit.clients.edit import (
    BOM,
    Concrete,
    Dialect,
    EditableDocument,
    edit_error,
    expected_after,
    same_data,
    syntax_error,
)
from mcpkit.errors import ClientConfigError

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MAX_DEPTH = 256
_DEFAULT_UNIT = "  "


@dataclass
class _Node:
    kind: Literal["object", "array", "scalar"]
    start: int
    end: int
    data: Any = None
    items: list[_Item] = field(default_factory=list)


@dataclass
class _Item:
    key: str | None  # None for array elements
    start: int  # the key's opening quote, or the element's first character
    value: _Node
    comma: int | None = None  # the comma after this item, if any


class _Scanner:
    """A recursive-descent JSON(C) reader that keeps offsets instead of building values."""

    def __init__(self, text: str, *, strict: bool, origin: str) -> None:
        self.text = text
        self.strict = strict
        self.origin = origin
        self.dialect: Dialect = "json" if strict else "jsonc"
        self.pos = 1 if text.startswith(BOM) else 0

    def fail(self, what: str, pos: int | None = None) -> ClientConfigError:
        line, column = position(self.text, self.pos if pos is None else pos)
        return syntax_error(self.origin, self.dialect, what, line, column)

    def document(self) -> _Node | None:
        self.trivia()
        if self.pos == len(self.text):
            return None
        root = self.value(0)
        self.trivia()
        if self.pos < len(self.text):
            raise self.fail("unexpected text after the top-level value")
        if root.kind != "object":
            raise self.fail("the top level must be an object", root.start)
        return root

    def trivia(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r\n":
                self.pos += 1
            elif text.startswith(("//", "/*"), self.pos):
                if self.strict:
                    raise self.fail("comments are not allowed in strict JSON")
                if text.startswith("//", self.pos):
                    end = text.find("\n", self.pos)
                    self.pos = len(text) if end < 0 else end
                else:
                    end = text.find("*/", self.pos + 2)
                    if end < 0:
                        raise self.fail("unterminated /* comment")
                    self.pos = end + 2
            else:
                return

    def value(self, depth: int) -> _Node:
        if depth > _MAX_DEPTH:
            raise self.fail("values are nested too deeply")
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of file; a value is missing")
        char = self.text[self.pos]
        if char in "{[":
            return self.container(depth)
        start = self.pos
        if char == '"':
            decoded = self.string()
            return _Node("scalar", start, self.pos, decoded)
        if char == "-" or char.isdigit():
            match = _NUMBER.match(self.text, self.pos)
            if match is None:
                raise self.fail("invalid number")
            self.pos = match.end()
            return _Node("scalar", start, self.pos, json.loads(match.group()))
        for word, data in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return _Node("scalar", start, self.pos, data)
        raise self.fail(f"unexpected character {char!r}; a value was expected")

    def string(self) -> str:
        start = self.pos
        text = self.text
        pos = start + 1
        while True:
            if pos >= len(text) or text[pos] == "\n":
                raise self.fail("unterminated string", start)
            if text[pos] == "\\":
                pos += 2
            elif text[pos] == '"':
                break
            else:
                pos += 1
        self.pos = pos + 1
        try:
            decoded: str = json.loads(text[start : self.pos])
        except json.JSONDecodeError as err:
            raise self.fail(f"invalid string: {err.msg}", start + err.pos) from None
        return decoded

    def container(self, depth: int) -> _Node:
        text = self.text
        start = self.pos
        is_object = text[start] == "{"
        closer = "}" if is_object else "]"
        node = _Node("object" if is_object else "array", start, start)
        seen: dict[str, int] = {}
        self.pos += 1
        while True:
            self.trivia()
            items = node.items
            if self.pos < len(text) and text[self.pos] == closer:
                if items and items[-1].comma is not None and self.strict:
                    raise self.fail(
                        "trailing commas are not allowed in strict JSON", items[-1].comma
                    )
                self.pos += 1
                node.end = self.pos
                return node
            if items and items[-1].comma is None:
                raise self.fail(f"expected ',' or '{closer}'")
            item_start = self.pos
            key: str | None = None
            if is_object:
                if self.pos >= len(text) or text[self.pos] != '"':
                    raise self.fail("expected a member name in double quotes")
                key = self.string()
                if key in seen:
                    first, _ = position(text, seen[key])
                    raise self.fail(
                        f"duplicate key {key!r} (first on line {first}); which one the client "
                        "uses is ambiguous",
                        item_start,
                    )
                seen[key] = item_start
                self.trivia()
                if self.pos >= len(text) or text[self.pos] != ":":
                    raise self.fail("expected ':' after the member name")
                self.pos += 1
                self.trivia()
            item = _Item(key, item_start, self.value(depth + 1))
            items.append(item)
            self.trivia()
            if self.pos < len(text) and text[self.pos] == ",":
                item.comma = self.pos
                self.pos += 1


def position(text: str, pos: int) -> tuple[int, int]:
    """The 1-based line and column of offset ``pos`` (a byte-order mark is not a column)."""
    line_start = text.rfind("\n", 0, pos) + 1
    line = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    if line == 1 and text.startswith(BOM):
        column = max(1, column - 1)
    return line, column


def _data(node: _Node) -> Any:
    if node.kind == "object":
        return {item.key: _data(item.value) for item in node.items}
    if node.kind == "array":
        return [_data(item.value) for item in node.items]
    return node.data


class JsonDocument(EditableDocument):
    """A JSON or JSONC text with offset-precise, format-preserving edits."""

    def __init__(self, text: str, *, strict: bool, origin: str) -> None:
        self.origin = origin
        self.strict = strict
        self._original = text
        self._load(text)

    def _load(self, text: str) -> None:
        self._text = text
        self._root = _Scanner(text, strict=self.strict, origin=self.origin).document()
        self._data: dict[str, Any] = {} if self._root is None else _data(self._root)

    @property
    def data(self) -> dict[str, Any]:
        """The whole document as plain data."""
        return self._data

    def dump(self) -> str:
        """The whole text; byte-identical to the input when nothing changed."""
        return self._text

    # -- layout facts -----------------------------------------------------------------

    @property
    def _newline(self) -> str:
        end = self._text.find("\n")
        return "\r\n" if end > 0 and self._text[end - 1] == "\r" else "\n"

    @property
    def _unit(self) -> str:
        """The file's indent step: the commonest extra indentation of a child over its parent."""
        steps: Counter[str] = Counter()
        stack = [self._root] if self._root else []
        while stack:
            node = stack.pop()
            outer = self._indent(node.start)
            for item in node.items:
                stack.append(item.value)
                if self._starts_line(item.start):
                    inner = self._indent(item.start)
                    if inner.startswith(outer) and len(inner) > len(outer):
                        steps[inner[len(outer) :]] += 1
        return steps.most_common(1)[0][0] if steps else _DEFAULT_UNIT

    def _line_start(self, pos: int) -> int:
        return self._text.rfind("\n", 0, pos) + 1

    def _indent(self, pos: int) -> str:
        start = self._line_start(pos)
        line = self._text[start:pos].lstrip(BOM)
        return line[: len(line) - len(line.lstrip(" \t"))]

    def _starts_line(self, pos: int) -> bool:
        return not self._text[self._line_start(pos) : pos].strip(" \t" + BOM)

    def _line_rest(self, pos: int) -> int:
        """Skip blanks and comments that start on this line; stop at the line break or code."""
        text = self._text
        while pos < len(text):
            if text[pos] in " \t":
                pos += 1
            elif text.startswith("//", pos):
                end = text.find("\n", pos)
                if end < 0:
                    return len(text)
                return end - 1 if text[end - 1] == "\r" else end
            elif text.startswith("/*", pos):
                pos = text.find("*/", pos) + 2
            else:
                break
        return pos

    def _serialise(self, value: Any, indent: str) -> str:
        text = json.dumps(value, indent=self._unit, ensure_ascii=False, allow_nan=False)
        return text.replace("\n", self._newline + indent)

    # -- primitives -------------------------------------------------------------------

    def _node(self, path: Concrete) -> tuple[_Node, _Item, int]:
        """The node at the non-empty ``path``, the item holding it and its index."""
        node = self._root
        found: tuple[_Node, _Item, int] | None = None
        for part in path:
            if node is None:
                break
            if isinstance(part, int):
                index = part
            else:
                index = next(i for i, it in enumerate(node.items) if it.key == part)
            item = node.items[index]
            node = item.value
            found = (node, item, index)
        if found is None:
            raise KeyError(path)
        return found

    def _container(self, path: Concrete) -> _Node | None:
        """The object or array at ``path`` (the root for an empty path; None in an empty file)."""
        return self._node(path)[0] if path else self._root

    def _commit(self, text: str, expected: dict[str, Any]) -> None:
        previous = (self._text, self._root, self._data)
        try:
            self._load(text)
        except ClientConfigError:
            self._text, self._root, self._data = previous
            raise
        if not same_data(self._data, expected):
            self._text, self._root, self._data = previous
            raise edit_error(self.origin, "the edit would change more than the entry (a bug)")

    def _insert(self, parent: Concrete, key: str | None, value: Any) -> None:
        expected = expected_after(self._data, "insert", parent, key=key, value=value)
        node = self._container(parent)
        if node is None:
            prefix = self._text
            if prefix.strip(" \t\r\n" + BOM) and not prefix.endswith("\n"):
                prefix += self._newline
            body = self._serialise({key: value} if key is not None else value, "")
            self._commit(prefix + body + self._newline, expected)
            return
        head = "" if key is None else json.dumps(key, ensure_ascii=False) + ": "
        items = node.items
        sibling = next(
            (self._indent(i.start) for i in reversed(items) if self._starts_line(i.start)), None
        )
        text = self._text
        if items and sibling is None:
            # Every member sits on the object's own line: stay on one line.
            compact = json.dumps(value, ensure_ascii=False, allow_nan=False)
            at = items[-1].value.end
            self._commit(text[:at] + ", " + head + compact + text[at:], expected)
            return
        outer = self._indent(node.start)
        indent = sibling if sibling is not None else outer + self._unit
        trailing = bool(items) and items[-1].comma is not None
        nl = self._newline
        anchor = node.start + 1
        if items:
            last = items[-1]
            anchor = last.comma + 1 if last.comma is not None else last.value.end
        at = self._line_rest(anchor)
        close = node.end - 1
        entry = nl + indent + head + self._serialise(value, indent) + ("," if trailing else "")
        gap = text[at:close]
        if "\n" in gap or gap.strip(" \t"):
            new = text[:at] + entry + text[at:]
        else:
            new = text[:at] + entry + nl + outer + text[close:]
        if items and not trailing:
            end = items[-1].value.end
            new = new[:end] + "," + new[end:]
        self._commit(new, expected)

    def _replace(self, path: Concrete, value: Any) -> None:
        expected = expected_after(self._data, "replace", path, value=value)
        node, item, _ = self._node(path)
        text = self._text
        new = self._serialise(value, self._indent(item.start))
        self._commit(text[: node.start] + new + text[node.end :], expected)

    def _remove(self, path: Concrete) -> None:
        expected = expected_after(self._data, "remove", path)
        parent = self._container(path[:-1])
        _, item, index = self._node(path)
        if parent is None:
            raise KeyError(path)
        text = self._text
        items = parent.items
        cuts: list[tuple[int, int]] = []
        end = item.comma + 1 if item.comma is not None else item.value.end
        if index == len(items) - 1 and item.comma is None and index > 0:
            comma = items[index - 1].comma
            if comma is not None:  # always, in valid JSON
                cuts.append((comma, comma + 1))
        rest = self._line_rest(end)
        if self._starts_line(item.start) and (rest == len(text) or text[rest] in "\r\n"):
            line_end = rest + (2 if text.startswith("\r\n", rest) else 1)
            cuts.append((self._line_start(item.start), min(line_end, len(text))))
        elif index + 1 < len(items):
            cuts.append((item.start, items[index + 1].start))
        else:
            start = item.start
            while start > parent.start + 1 and text[start - 1] in " \t\r\n":
                start -= 1
            if cuts and cuts[-1][1] == start:
                # The predecessor's comma is right before: take it and the blanks before it.
                start = cuts.pop()[0]
                while start > parent.start + 1 and text[start - 1] in " \t\r\n":
                    start -= 1
            cuts.append((start, end))
        new = text
        removed = 0
        for cut_start, cut_end in sorted(cuts, reverse=True):
            new = new[:cut_start] + new[cut_end:]
            removed += cut_end - cut_start
        if len(items) == 1:
            close = parent.end - 1 - removed
            if not new[parent.start + 1 : close].strip(" \t\r\n"):
                # An emptied object collapses to {} rather than a brace on each line.
                new = new[: parent.start + 1] + new[close:]
        self._commit(new, expected)
