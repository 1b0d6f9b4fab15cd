"""YAML documents (Goose, Continue) edited with ruamel.yaml's round-trip mode.

ruamel keeps comments, key order, quoting and anchors, but re-emits the whole document, and
what it re-emits is not always what the file said (spacing after ``:``, flow spacing, a
``---`` line, indentation it was not told about). So an edit is made on ruamel's tree, and
only the *lines it changed* are carried into the original text: a three-way merge of ruamel's
rendering of the unedited file (base), the file itself (ours) and ruamel's rendering after the
edit (theirs). Every result is re-parsed and checked against the data the edit must produce;
if the merge cannot be placed, ruamel's full rendering is used (it is still the same data
with the comments).

ruamel attaches the comment lines *before* a key to the end of the previous entry, so deleting
an entry with ruamel also deletes the comment that introduces the next one. Entries are
therefore removed by their lines (from ruamel's line/column marks): trailing comments at the
entry's own indentation or less stay with what follows.

Anchors, aliases, ``<<`` merges and tags elsewhere in the file are kept; an edit that would go
through or replace an anchored, merged or tagged node is refused, since it would change the
other places that share it.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

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

_DASH = re.compile(r"(-(?: +|$))+")
_BARE = re.compile(r"\s*(#.*)?|---.*|\.\.\.\s*|%.*")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_trivia(line: str) -> bool:
    bare = line.strip()
    return not bare or bare.startswith("#")


def _detect(text: str) -> tuple[int, int, int]:
    """ruamel's ``indent(mapping, sequence, offset)`` that reproduces this file's layout."""
    mappings: Counter[int] = Counter()
    sequences: Counter[tuple[int, int]] = Counter()
    lines = [line.rstrip("\n") for line in split_lines(text) if not _is_trivia(line)]
    for prev, cur in itertools.pairwise(lines):
        bare = prev.split(" #")[0].rstrip()
        if not bare.endswith(":"):
            continue
        dashes = _DASH.match(prev.lstrip(" "))
        key_col = _indent(prev) + (dashes.end() if dashes else 0)
        body = cur.lstrip(" ")
        if re.match(r"- +-( |$)", body):
            continue  # a list in a list: ruamel pads these, so they tell nothing reliable
        if body.startswith("- ") or body == "-":
            lead = re.match(r"- +", body)
            width = lead.end() if lead and body.strip() != "-" else 2
            sequences[(_indent(cur) - key_col, width)] += 1
        elif _indent(cur) > key_col:
            mappings[_indent(cur) - key_col] += 1
    mapping = mappings.most_common(1)[0][0] if mappings else 2
    offset, width = sequences.most_common(1)[0][0] if sequences else (0, 2)
    offset = max(offset, 0)
    return mapping, offset + max(width, 2), offset


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    # ruamel's scalar subclasses (ScalarFloat, DoubleQuotedScalarString...) become plain ones.
    kind = next((k for k in (bool, int, float, str) if isinstance(node, k)), None)
    return node if kind is None else kind(node)


def _tree(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _tree(item)
        return out
    if isinstance(value, list | tuple):
        return CommentedSeq([_tree(v) for v in value])
    return value


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """Carry the line changes from ``base`` to ``theirs`` into ``ours``; ``None`` when a changed
    line of ``base`` has no unchanged counterpart in ``ours``."""
    b, o, t = (split_lines(x) for x in (base, ours, theirs))
    link: dict[int, int] = {}
    for tag, i1, i2, j1, _ in SequenceMatcher(None, b, o, autojunk=False).get_opcodes():
        if tag == "equal":
            link.update((i1 + k, j1 + k) for k in range(i2 - i1))
    out: list[str] = []
    done = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, t, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            if any(k not in link for k in range(i1, i2)):
                return None
            start, stop = link[i1], link[i2 - 1] + 1
            if stop - start != i2 - i1:
                return None
        elif i1 > 0 and i1 - 1 in link:
            start = stop = link[i1 - 1] + 1
        elif i1 in link:
            start = stop = link[i1]
        elif i1 == 0:
            start = stop = 0
        else:
            return None
        if start < done:
            return None
        out += o[done:start] + t[j1:j2]
        done = stop
    return "".join(out + o[done:])


def _entry_end(lines: list[str], row: int, col: int, *, mapping_key: bool) -> int:
    """The line after the entry starting at ``row`` (its key or dash at ``col``), leaving out
    the comments at ``col`` or less that end it: they introduce what follows."""
    end = row + 1
    while end < len(lines):
        line = lines[end]
        if not _is_trivia(line):
            # A block sequence may sit at its key's own indentation ("key:\n- item").
            dash = mapping_key and re.match(r"-( |$)", line.lstrip(" ")) is not None
            if _indent(line) < col or (_indent(line) == col and not dash):
                break
        end += 1
    while end > row + 1 and _is_trivia(lines[end - 1]) and _indent(lines[end - 1]) <= col:
        end -= 1
    return end


class YamlDocument(EditableDocument):
    """A YAML text with format-preserving edits."""

    def __init__(self, text: str, *, origin: str) -> None:
        self.origin = origin
        self._original = text
        self._shape, body = TextShape.of(text)
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._yaml.width = 1 << 16  # never fold long lines the user did not fold
        mapping, sequence, offset = _detect(body)
        self._yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        self._load(body)

    def _load(self, text: str) -> None:
        try:
            tree = self._yaml.load(text)
        except MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            what = " ".join(str(p) for p in (err.context, err.problem) if p)
            if "duplicate key" in what:
                what += "; which one the client uses is ambiguous"
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise syntax_error(self.origin, "yaml", what, line, column) from None
        except YAMLError as err:
            raise syntax_error(self.origin, "yaml", str(err), 1, 1) from None
        self._empty = tree is None and all(
            _BARE.fullmatch(line.rstrip("\n")) for line in split_lines(text)
        )
        if self._empty:
            tree = CommentedMap()
        if not isinstance(tree, CommentedMap):
            first = next((i for i, line in enumerate(split_lines(text)) if not _is_trivia(line)), 0)
            raise syntax_error(self.origin, "yaml", "the top level must be a mapping", first + 1, 1)
        self._text = text
        self._tree = tree
        self._data: dict[str, Any] = _plain(tree)
        self._base = "" if self._empty else self._render()

    def _render(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self._tree, out)
        return out.getvalue()

    @property
    def data(self) -> dict[str, Any]:
        """The whole document as plain data."""
        return self._data

    def dump(self) -> str:
        """The whole text; byte-identical to the input when nothing changed."""
        text = self._shape.restore(self._text)
        return self._original if text == self._original else text

    # -- helpers ---------------------------------------------------------------------

    def _try(self, text: str | None, expected: dict[str, Any]) -> bool:
        if text is None:
            return False
        previous = (self._text, self._tree, self._data, self._base, self._empty)
        try:
            self._load(text)
        except ClientConfigError:
            self._text, self._tree, self._data, self._base, self._empty = previous
            return False
        if same_data(self._data, expected):
            return True
        self._text, self._tree, self._data, self._base, self._empty = previous
        return False

    def _commit_tree(self, expected: dict[str, Any]) -> None:
        theirs = self._render()
        if self._empty:
            merged: str | None = self._text + theirs
        else:
            merged = merge3(self._base, self._text, theirs)
        if not (self._try(merged, expected) or self._try(theirs, expected)):
            self._load(self._text)
            raise edit_error(self.origin, "ruamel.yaml could not make this edit faithfully")

    def _walk(self, path: Concrete, *, target: bool) -> Any:
        """The node at ``path``, refusing edits that would reach through or replace a shared
        node: a container on the way that is anchored, tagged or takes ``<<`` merged keys, or
        (``target``) an anchored node that would be replaced or removed."""
        node: Any = self._tree
        nodes = [node]
        for part in path:
            node = node[part]
            nodes.append(node)
        for i, item in enumerate(nodes):
            where = ".".join(str(p) for p in path[:i]) or "the top level"
            anchor = getattr(getattr(item, "anchor", None), "value", None)
            if anchor:
                raise edit_error(self.origin, f"{where} is the anchor &{anchor}, shared elsewhere")
            if target and i == len(nodes) - 1:
                break
            tag = getattr(getattr(item, "tag", None), "value", None)
            if tag:
                raise edit_error(self.origin, f"{where} has the tag {tag}")
            if getattr(item, "merge", None):
                raise edit_error(self.origin, f"{where} takes keys from a << merge")
        return node

    # -- primitives ------------------------------------------------------------------

    def _insert(self, parent: Concrete, key: str | None, value: Any) -> None:
        expected = expected_after(self._data, "insert", parent, key=key, value=value)
        node = self._walk(parent, target=False)
        if key is None:
            node.append(_tree(value))
        else:
            node[key] = _tree(value)
        self._commit_tree(expected)

    def _replace(self, path: Concrete, value: Any) -> None:
        expected = expected_after(self._data, "replace", path, value=value)
        self._walk(path, target=True)
        self._walk(path[:-1], target=False)[path[-1]] = _tree(value)
        self._commit_tree(expected)

    def _remove(self, path: Concrete) -> None:
        expected = expected_after(self._data, "remove", path)
        self._walk(path, target=True)
        if self._try(self._cut(path), expected):
            return
        del self._walk(path[:-1], target=False)[path[-1]]
        self._commit_tree(expected)

    def _cut(self, path: Concrete) -> str | None:
        """The text without the lines of the entry at ``path``; ``None`` if not line-shaped."""
        parent = self._walk(path[:-1], target=False)
        if parent.fa.flow_style():
            return None
        lines = split_lines(self._text)
        key = path[-1]
        if isinstance(key, int):
            row, col = parent.lc.item(key)
            lead = lines[row][:col]
            if not re.fullmatch(r" *- +", lead):
                return None
            col = _indent(lead)
        else:
            row, col = parent.lc.key(key)
            if lines[row][:col].strip():
                return None
        end = _entry_end(lines, row, col, mapping_key=isinstance(key, str))
        after = end
        if row == 0 or not lines[row - 1].strip():
            while after < len(lines) and not lines[after].strip():
                after += 1
        if after == len(lines):
            while row > 0 and not lines[row - 1].strip():
                row -= 1
        return "".join(lines[:row] + lines[after:])
