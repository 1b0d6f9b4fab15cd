"""TOML documents (Codex's ``config.toml``) edited without disturbing the rest of the file.

tomlkit parses and validates, reads values, and renders new text; where its own edits would
move things the user wrote, the edit is made on the text instead:

- tomlkit attaches the comment lines and blank lines *before* a table header to the end of the
  preceding table, so deleting ``[mcp_servers.mcpkit]`` with tomlkit also deletes the comment
  that introduces the next table. Tables are removed here by their header lines, keeping
  trailing comments with what follows.
- tomlkit appends a new key after a table's trailing comments and blank line, and a new
  sub-table right after its last sibling without a blank line. Keys are inserted here after
  the table's last key line, and new tables go at the end of the file after a blank line.

Every text edit is re-parsed and checked against the data it must produce; if it does not
match (dotted keys, inline tables, arrays of tables), the edit is made with tomlkit instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import tomlkit
import tomlkit.exceptions
import tomlkit.items

from mcpkit.clients.edit import (
    Concrete,
    EditableDocument,
    TextShape,
    edit_error,
    expected_after,
    same_data,
    split_lines,
    syntax_error,
)
from mcpkit.errors import ClientConfigError

_WHERE = re.compile(r"\s+at line \d+ col \d+$")


@dataclass(frozen=True)
class _Line:
    start: int
    text: str
    kind: Literal["header", "blank", "comment", "content"]
    path: tuple[str, ...] = ()


def _string_end(text: str, pos: int) -> int:
    """The offset just past the TOML string that starts at ``pos``."""
    for quote in ('"""', "'''"):
        if text.startswith(quote, pos):
            at = pos + 3
            while True:
                at = text.find(quote, at)
                if at < 0:
                    return len(text)
                backslashes = len(text[pos:at]) - len(text[pos:at].rstrip("\\"))
                if quote == '"""' and backslashes % 2:
                    at += 1
                    continue
                end = at + 3
                # Up to two quotes right before the closing delimiter belong to the content.
                while end < len(text) and text[end] == quote[0] and end - at < 5:
                    end += 1
                return end
    quote = text[pos]
    at = pos + 1
    while at < len(text) and text[at] not in (quote, "\n"):
        at += 2 if quote == '"' and text[at] == "\\" else 1
    return at + 1


def _header_path(line: str) -> tuple[str, ...]:
    node: Any = tomlkit.parse(line).unwrap()
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
        if isinstance(node, list):
            break
    return tuple(path)


def _lines(text: str) -> list[_Line]:
    """Every physical line, classified; lines inside multi-line values are ``content``."""
    plain = {0}
    depth = 0
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\n":
            pos += 1
            if depth == 0:
                plain.add(pos)
        elif char == "#" or (
            char == "[" and depth == 0 and not text[text.rfind("\n", 0, pos) + 1 : pos].strip()
        ):
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif char in "\"'":
            pos = _string_end(text, pos)
        else:
            depth += (char in "[{") - (char in "]}")
            pos += 1
    out: list[_Line] = []
    start = 0
    for line in split_lines(text):
        bare = line.strip()
        if start not in plain:
            out.append(_Line(start, line, "content"))
        elif not bare:
            out.append(_Line(start, line, "blank"))
        elif bare.startswith("#"):
            out.append(_Line(start, line, "comment"))
        elif bare.startswith("["):
            out.append(_Line(start, line, "header", _header_path(line)))
        else:
            out.append(_Line(start, line, "content"))
        start += len(line)
    return out


def _repeat_line(text: str, key: str) -> int:
    """The 1-based line where ``key`` is assigned for the second time (1 if not found)."""
    pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    seen = 0
    for number, line in enumerate(split_lines(text), start=1):
        if pattern.match(line):
            seen += 1
            if seen == 2:
                return number
    return 1


def _item(value: Any, origin: str) -> Any:
    """A tomlkit value for ``value``, written inline (nested mappings as inline tables)."""
    if value is None:
        raise edit_error(origin, "TOML has no null value")
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, item in value.items():
            table.append(key, _item(item, origin))
        return table
    if isinstance(value, list | tuple):
        array = tomlkit.array()
        for item in value:
            array.append(_item(item, origin))
        return array
    return tomlkit.item(value)


def _table(value: Mapping[str, Any], origin: str) -> tomlkit.items.Table:
    """A table for ``value``: a super table when it holds only tables, else keys and inline
    tables (Codex's own docs write ``env = { ... }``)."""
    if value and all(isinstance(v, Mapping) for v in value.values()):
        table = tomlkit.table(is_super_table=True)
        for key, item in value.items():
            table.append(key, _table(item, origin))
        return table
    table = tomlkit.table()
    for key, item in value.items():
        table.append(key, _item(item, origin))
    return table


def _prune(data: dict[str, Any], path: Concrete) -> dict[str, Any]:
    """``data`` without the empty mappings at the end of ``path`` (a copy)."""
    out = copy.deepcopy(data)
    for size in range(len(path), 0, -1):
        parent: Any = out
        for part in path[: size - 1]:
            parent = parent[part]
        if parent[path[size - 1]] != {}:
            break
        del parent[path[size - 1]]
    return out


class TomlDocument(EditableDocument):
    """A TOML text with format-preserving edits."""

    def __init__(self, text: str, *, origin: str) -> None:
        self.origin = origin
        self._original = text
        self._shape, body = TextShape.of(text)
        self._load(body)

    def _load(self, text: str) -> None:
        try:
            doc = tomlkit.parse(text)
        except tomlkit.exceptions.ParseError as err:
            what = _WHERE.sub("", str(err))
            if "already exists" in what:
                what += " (a key is defined twice; which one the client uses is ambiguous)"
            raise syntax_error(self.origin, "toml", what, err.line, err.col + 1) from None
        except tomlkit.exceptions.KeyAlreadyPresent as err:
            # Raised while a table is assembled, without a position: point at the repeat.
            key = str(err).split('"')[1] if '"' in str(err) else ""
            line = _repeat_line(text, key)
            what = f"{err} (a key is defined twice; which one the client uses is ambiguous)"
            raise syntax_error(self.origin, "toml", what, line, 1) from None
        except tomlkit.exceptions.TOMLKitError as err:
            raise syntax_error(self.origin, "toml", str(err), 1, 1) from None
        self._text = text
        self._doc = doc
        self._data: dict[str, Any] = doc.unwrap()

    @property
    def data(self) -> dict[str, Any]:
        """The whole document as plain data."""
        return self._data

    def dump(self) -> str:
        """The whole text; byte-identical to the input when nothing changed."""
        text = self._shape.restore(self._text)
        return self._original if text == self._original else text

    # -- commits ---------------------------------------------------------------------

    def _try(self, text: str, expected: dict[str, Any]) -> bool:
        previous = (self._text, self._doc, self._data)
        try:
            self._load(text)
        except ClientConfigError:
            self._text, self._doc, self._data = previous
            return False
        if same_data(self._data, expected):
            return True
        self._text, self._doc, self._data = previous
        return False

    def _with_tomlkit(self, change: Any, expected: dict[str, Any]) -> None:
        doc = tomlkit.parse(self._text)
        change(doc)
        if not self._try(doc.as_string(), expected):
            raise edit_error(self.origin, "tomlkit could not make this edit faithfully")

    def _node(self, doc: Any, path: Concrete) -> Any:
        for part in path:
            doc = doc[part]
        return doc

    # -- primitives ------------------------------------------------------------------

    def _insert(self, parent: Concrete, key: str | None, value: Any) -> None:
        expected = expected_after(self._data, "insert", parent, key=key, value=value)
        holder = self._node(self._data, parent)
        if key is not None and all(isinstance(p, str) for p in parent):
            names = [str(p) for p in parent]
            tables_only = not parent or all(isinstance(v, Mapping) for v in holder.values())
            if isinstance(value, Mapping) and tables_only:
                if self._try(self._append_table([*names, key], value), expected):
                    return
            elif self._try(self._insert_key(names, key, value), expected):
                return

        def change(doc: Any) -> None:
            node = self._node(doc, parent)
            if key is None:
                node.append(_table(value, self.origin) if isinstance(value, Mapping) else value)
            else:
                node[key] = _item(value, self.origin)

        self._with_tomlkit(change, expected)

    def _append_table(self, path: list[str], value: Mapping[str, Any]) -> str:
        doc = tomlkit.document()
        node: Any = doc
        for part in path[:-1]:
            outer = tomlkit.table(is_super_table=True)
            node.append(part, outer)
            node = outer
        node.append(path[-1], _table(value, self.origin))
        text = self._text
        if not text.strip():
            return text + doc.as_string()
        return text.rstrip("\n") + "\n\n" + doc.as_string()

    def _insert_key(self, table: list[str], key: str, value: Any) -> str:
        lines = _lines(self._text)
        headers = [i for i, line in enumerate(lines) if line.kind == "header"]
        if table:
            own = [i for i in headers if lines[i].path == tuple(table)]
            if not own:
                return self._text
            start = own[-1]
        else:
            start = 0
        end = next((i for i in headers if i > start), len(lines))
        body = [i for i in range(start, end) if lines[i].kind in ("content", "header")]
        at = body[-1] + 1 if body else start
        new = tomlkit.dumps({key: _item(value, self.origin)})
        texts = [line.text for line in lines]
        if not table and not body and at < len(texts):
            new += "\n"
        texts.insert(at, new)
        return "".join(texts)

    def _replace(self, path: Concrete, value: Any) -> None:
        expected = expected_after(self._data, "replace", path, value=value)
        old = self._node(self._data, path)
        key = path[-1]
        if isinstance(key, str) and (isinstance(old, Mapping) or isinstance(value, Mapping)):
            # A table cannot turn into a key in place (or back): it moves to where new ones go.
            self._remove(path)
            self._insert(path[:-1], key, value)
            return

        def change(doc: Any) -> None:
            self._node(doc, path[:-1])[key] = _item(value, self.origin)

        self._with_tomlkit(change, expected)

    def _remove(self, path: Concrete) -> None:
        expected = expected_after(self._data, "remove", path)
        if all(isinstance(p, str) for p in path):
            text = self._cut_tables(tuple(str(p) for p in path))
            # A super table like [mcp_servers] that was only implied by its children's headers
            # has no text of its own: once its last child is gone, it is gone too.
            if self._try(text, expected) or self._try(text, _prune(expected, path[:-1])):
                return

        def change(doc: Any) -> None:
            del self._node(doc, path[:-1])[path[-1]]

        self._with_tomlkit(change, expected)

    def _cut_tables(self, path: tuple[str, ...]) -> str:
        """The text without the tables (and sub-tables) at ``path``, by their header lines."""
        lines = _lines(self._text)
        headers = [i for i, line in enumerate(lines) if line.kind == "header"]
        spans: list[list[int]] = []
        for n, i in enumerate(headers):
            if lines[i].path[: len(path)] != path:
                continue
            end = headers[n + 1] if n + 1 < len(headers) else len(lines)
            if spans and spans[-1][1] == i:
                spans[-1][1] = end
            else:
                spans.append([i, end])
        keep = [True] * len(lines)
        for start, end in spans:
            last = max(i for i in range(start, end) if lines[i].kind in ("content", "header"))
            cut = list(range(start, last + 1))
            after = last + 1
            blank_before = start == 0 or lines[start - 1].kind == "blank"
            if end == len(lines) and all(lines[i].kind == "blank" for i in range(after, end)):
                cut += range(after, len(lines))
                before = start - 1
                while before >= 0 and lines[before].kind == "blank" and keep[before]:
                    cut.append(before)
                    before -= 1
            elif blank_before:
                while after < end and lines[after].kind == "blank":
                    cut.append(after)
                    after += 1
            for i in cut:
                keep[i] = False
        return "".join(line.text for line, kept in zip(lines, keep, strict=True) if kept)
