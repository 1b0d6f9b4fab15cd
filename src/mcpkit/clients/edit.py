"""Format-preserving edits of AI clients' config files: one protocol, three formats.

A client's config file belongs to the user and to the client; mcpkit only adds, changes or
removes its own entry. :func:`parse` reads a text into a :class:`ConfigDocument` whose
``dump()`` is byte-identical to the input until something is edited, and after an edit keeps
everything outside the edited member as it was (comments, order, quoting, indentation,
newlines, byte-order mark). A text that cannot be parsed is refused with a
:class:`~mcpkit.errors.ClientConfigError`, so the caller never overwrites it.

Paths address values from the top-level mapping: a ``str`` is a mapping key, a
:class:`ByName` is the element of a list whose ``field`` equals ``value`` (Continue's
``mcpServers`` list of ``{name: ...}`` items).
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mcpkit.errors import ClientConfigError

Dialect = Literal["json", "jsonc", "toml", "yaml"]

PARSE_HINT = "fix the file, or move it aside; mcpkit never overwrites a file it cannot parse"
EDIT_HINT = "edit the file by hand, or move it aside; mcpkit changes nothing it cannot edit safely"

_LABELS: dict[str, str] = {
    "json": "JSON",
    "jsonc": "JSON with comments",
    "toml": "TOML",
    "yaml": "YAML",
}

#: The byte-order mark some editors put at the start of a file.
BOM = "\ufeff"


@dataclass(frozen=True)
class ByName:
    """The element of a list that is a mapping whose ``field`` equals ``value``."""

    field: str
    value: str


PathPart = str | ByName


@dataclass(frozen=True)
class TextShape:
    """What a text's edits must give back: its BOM, CRLF line ends and final newline.

    Editors work on a plain LF body that ends in a newline; :meth:`restore` turns an
    edited body back into the file's own shape.
    """

    bom: bool
    crlf: bool
    final_newline: bool

    @classmethod
    def of(cls, text: str) -> tuple[TextShape, str]:
        """The shape of ``text`` and its body (no BOM, LF line ends, a final newline)."""
        bom = text.startswith(BOM)
        body = text[1:] if bom else text
        crlf = "\r\n" in body and body.count("\r\n") == body.count("\n")
        if crlf:
            body = body.replace("\r\n", "\n")
        final_newline = body.endswith("\n") or not body
        return cls(bom, crlf, final_newline), body if final_newline else body + "\n"

    def restore(self, body: str) -> str:
        """An edited body in the original text's shape."""
        text = body if self.final_newline else body[:-1]
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return (BOM if self.bom else "") + text


class ConfigDocument(Protocol):
    """A parsed config file that can be edited without disturbing the rest of its text."""

    def get(self, path: Sequence[PathPart]) -> Any:
        """The plain data (dict, list, str, ...) at ``path``; ``None`` when it is absent."""
        ...

    def set(self, path: Sequence[PathPart], value: Any) -> None:
        """Put ``value`` at ``path``, creating missing parent mappings (and list elements for
        :class:`ByName`); an existing value is replaced (mappings member by member)."""
        ...

    def delete(self, path: Sequence[PathPart]) -> bool:
        """Remove one member or element; ``True`` if it was there. An emptied parent stays."""
        ...

    def dump(self) -> str:
        """The whole text; byte-identical to the input when nothing changed."""
        ...


def parse(text: str, dialect: Dialect, *, origin: str) -> ConfigDocument:
    """Parse ``text`` (the content of ``origin``) as ``dialect`` for editing.

    Raises :class:`ClientConfigError` naming ``origin``, the line and the column when the text
    is not valid in that dialect (``"json"`` is strict: no comments, no trailing commas), when a
    mapping repeats a key, or when the top level is not a mapping. An empty text is an empty
    document.
    """
    if dialect in ("json", "jsonc"):
        from mcpkit.clients.jsonc import JsonDocument

        return JsonDocument(text, strict=dialect == "json", origin=origin)
    if dialect == "toml":
        from mcpkit.clients.tomledit import TomlDocument

        return TomlDocument(text, origin=origin)
    if dialect == "yaml":
        from mcpkit.clients.yamledit import YamlDocument

        return YamlDocument(text, origin=origin)
    raise ValueError(f"unknown config dialect {dialect!r}")


def syntax_error(
    origin: str, dialect: Dialect, what: str, line: int, column: int
) -> ClientConfigError:
    """The error for a text that cannot be read: where (1-based line and column) and why."""
    return ClientConfigError(
        f"cannot read {origin} as {_LABELS[dialect]}: {what} (line {line}, column {column})",
        hint=PARSE_HINT,
    )


def edit_error(origin: str, what: str) -> ClientConfigError:
    """The error for a valid file whose shape makes the requested edit unsafe or impossible."""
    return ClientConfigError(f"cannot edit {origin}: {what}", hint=EDIT_HINT)


def show_path(path: Sequence[PathPart]) -> str:
    """A path as users read it: ``mcpServers.mcpkit`` or ``mcpServers[name=mcpkit]``."""
    out = ""
    for part in path:
        if isinstance(part, ByName):
            out += f"[{part.field}={part.value}]"
        else:
            out += ("." if out else "") + part
    return out or "the top level"


def check_value(value: Any) -> None:
    """Refuse values no config format here can hold (a programming error, not user input)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot store the non-finite number {value!r}")
        return
    if isinstance(value, list | tuple):
        for item in value:
            check_value(item)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, not {type(key).__name__}")
            check_value(item)
        return
    raise TypeError(f"cannot store a {type(value).__name__} in a config file")


def same_data(a: Any, b: Any) -> bool:
    """Equality that also tells ``True`` from ``1`` and ``1`` from ``1.0`` (key order ignored)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list | tuple) or isinstance(b, Mapping | list | tuple):
        return False
    kinds = (bool, int, float, str)
    kind_a = next((k for k in kinds if isinstance(a, k)), type(a))
    kind_b = next((k for k in kinds if isinstance(b, k)), type(b))
    return kind_a is kind_b and bool(a == b)


def with_name(part: ByName, value: Any) -> dict[str, Any]:
    """The list element for ``part``: ``value`` with ``part.field`` set to ``part.value`` first."""
    if not isinstance(value, Mapping):
        raise TypeError(f"the element {show_path([part])} must be a mapping")
    named = value.get(part.field, part.value)
    if named != part.value:
        raise ValueError(f"the element {show_path([part])} cannot be named {named!r}")
    return {part.field: part.value, **{k: v for k, v in value.items() if k != part.field}}


def build(rest: Sequence[PathPart], value: Any) -> Any:
    """The value to create at a missing path part so that ``rest`` below it leads to ``value``."""
    if not rest:
        return value
    inner = build(rest[1:], value)
    head = rest[0]
    if isinstance(head, ByName):
        return [with_name(head, inner)]
    return {head: inner}


def find_named(items: Sequence[Any], part: ByName, origin: str, where: str) -> int | None:
    """The index of the one element of ``items`` (plain data) named by ``part``."""
    found = [
        i
        for i, item in enumerate(items)
        if isinstance(item, Mapping) and same_data(item.get(part.field), part.value)
    ]
    if len(found) > 1:
        raise edit_error(
            origin,
            f"{where} has {len(found)} elements with {part.field} = {part.value!r}; "
            "which one the client uses is ambiguous",
        )
    return found[0] if found else None


def plain_get(data: Any, path: Sequence[PathPart]) -> Any:
    """Look ``path`` up in plain data (dicts and lists); ``None`` when absent."""
    node = data
    for part in path:
        if isinstance(part, ByName):
            if not isinstance(node, list):
                return None
            index = find_named(node, part, "the file", show_path(path))
            if index is None:
                return None
            node = node[index]
        else:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
    return node


def plain_set(data: dict[str, Any], path: Sequence[PathPart], value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at ``path``: the data an edit must produce."""
    out = copy.deepcopy(data)
    node: Any = out
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(part, ByName):
            index = find_named(node, part, "the file", show_path(path))
            if index is None:
                node.append(with_name(part, build(path[i + 1 :], value)))
                return out
            if last:
                node[index] = with_name(part, value)
                return out
            node = node[index]
        else:
            if part not in node:
                node[part] = build(path[i + 1 :], value)
                return out
            if last:
                node[part] = copy.deepcopy(value)
                return out
            node = node[part]
    return out


def plain_delete(data: dict[str, Any], path: Sequence[PathPart]) -> dict[str, Any]:
    """A copy of ``data`` without the member or element at ``path``."""
    out = copy.deepcopy(data)
    parent = plain_get(out, path[:-1])
    part = path[-1]
    if isinstance(part, ByName):
        index = find_named(parent, part, "the file", show_path(path))
        if index is not None:
            del parent[index]
    elif isinstance(parent, dict):
        parent.pop(part, None)
    return out


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their ``\\n``; unlike ``str.splitlines`` no other character
    (form feed, NEL, U+2028 inside a value) ends a line."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def kind_name(value: Any) -> str:
    """How users call the kind of a plain value in messages."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string"


Concrete = list[str | int]


def concrete_path(data: Any, path: Sequence[PathPart], origin: str) -> Concrete:
    """``path`` with each :class:`ByName` replaced by its element's index (it must exist)."""
    out: Concrete = []
    node = data
    for i, part in enumerate(path):
        if isinstance(part, ByName):
            index = find_named(node, part, origin, show_path(path[:i]))
            if index is None:
                raise KeyError(show_path(path[: i + 1]))
            out.append(index)
            node = node[index]
        else:
            out.append(part)
            node = node[part]
    return out


class EditableDocument(ABC):
    """The shared walk of ``get``/``set``/``delete`` over three primitive edits.

    A backend keeps its text and the plain data of its text in step, and implements
    ``_insert`` (a new member of a mapping, or a new last element of a list), ``_replace`` (the
    whole value of an existing member or element) and ``_remove``. Each primitive is checked
    against the data it must produce, so no edit can silently change something else.
    """

    origin: str

    @property
    @abstractmethod
    def data(self) -> dict[str, Any]:
        """The whole document as plain data."""

    @abstractmethod
    def dump(self) -> str:
        """The whole text; byte-identical to the input when nothing changed."""

    @abstractmethod
    def _insert(self, parent: Concrete, key: str | None, value: Any) -> None:
        """Add member ``key`` (absent) to the mapping at ``parent``, or append to the list there
        when ``key`` is ``None``."""

    @abstractmethod
    def _replace(self, path: Concrete, value: Any) -> None:
        """Replace the value at the existing ``path``."""

    @abstractmethod
    def _remove(self, path: Concrete) -> None:
        """Remove the existing member or element at ``path``."""

    def get(self, path: Sequence[PathPart]) -> Any:
        """The plain data at ``path``; ``None`` when it is absent."""
        return copy.deepcopy(plain_get(self.data, path))

    def set(self, path: Sequence[PathPart], value: Any) -> None:
        """Put ``value`` at ``path`` (see :class:`ConfigDocument`)."""
        check_value(value)
        if not path:
            raise ValueError("set needs a non-empty path")
        self._set(list(path), value)

    def delete(self, path: Sequence[PathPart]) -> bool:
        """Remove the member or element at ``path``; ``True`` if it was there."""
        if not path:
            raise ValueError("delete needs a non-empty path")
        parent = plain_get(self.data, path[:-1])
        last = path[-1]
        if isinstance(last, ByName):
            if not isinstance(parent, list):
                return False
            if find_named(parent, last, self.origin, show_path(path[:-1])) is None:
                return False
        elif not isinstance(parent, Mapping) or last not in parent:
            return False
        self._remove(concrete_path(self.data, path, self.origin))
        return True

    def _set(self, path: list[PathPart], value: Any) -> None:
        node: Any = self.data
        done: Concrete = []
        for i, part in enumerate(path):
            where = show_path(path[:i])
            if isinstance(part, ByName):
                if not isinstance(node, list):
                    raise edit_error(self.origin, f"{where} is {kind_name(node)}, not a list")
                index = find_named(node, part, self.origin, where)
                if index is None:
                    self._insert(done, None, with_name(part, build(path[i + 1 :], value)))
                    return
                done.append(index)
                node = node[index]
                if i == len(path) - 1:
                    value = with_name(part, value)
            else:
                if not isinstance(node, Mapping):
                    raise edit_error(self.origin, f"{where} is {kind_name(node)}, not a mapping")
                if part not in node:
                    self._insert(done, part, build(path[i + 1 :], value))
                    return
                done.append(part)
                node = node[part]
        if same_data(node, value):
            return
        if isinstance(node, Mapping) and isinstance(value, Mapping):
            # Member by member, so comments and formatting inside the mapping survive.
            for key in [k for k in node if k not in value]:
                self._remove([*done, key])
            for key, item in value.items():
                self._set([*path, key], item)
            return
        self._replace(done, value)


def expected_after(
    data: dict[str, Any],
    op: Literal["insert", "replace", "remove"],
    path: Concrete,
    *,
    key: str | None = None,
    value: Any = None,
) -> dict[str, Any]:
    """The plain data a primitive edit must leave; backends compare their result with it."""
    out = copy.deepcopy(data)
    node: Any = out
    if op == "insert":
        for part in path:
            node = node[part]
        if key is None:
            node.append(copy.deepcopy(value))
        else:
            node[key] = copy.deepcopy(value)
        return out
    for part in path[:-1]:
        node = node[part]
    if op == "replace":
        node[path[-1]] = copy.deepcopy(value)
    else:
        del node[path[-1]]
    return out
