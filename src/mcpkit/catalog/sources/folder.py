"""A docker/mcp-registry-style checkout: ``servers/<name>/server.yaml`` (+ ``tools.json``).

Each ``server.yaml`` goes through :mod:`mcpkit.catalog.docker_format`. A broken
file costs only its own server (a warning names it); a folder with no
``server.yaml`` at all is an error. A hash over every file read tells the caller
when nothing changed.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from mcpkit.catalog.docker_format import convert_server_yaml
from mcpkit.catalog.document import CatalogDocument, collect_converted, decode_document
from mcpkit.catalog.model import ServerSpec
from mcpkit.catalog.sources.base import (
    SOURCE_HINT,
    FetchResult,
    Validators,
    content_hash,
    parsed_result,
)
from mcpkit.catalog.sources.file import read_capped
from mcpkit.errors import CatalogFormatError, SourceError

#: Largest single server.yaml or tools.json read.
MAX_FILE_BYTES = 1024 * 1024


def server_files(root: Path) -> list[Path]:
    """The ``server.yaml`` files of a checkout (``root/servers/*/`` or ``root/*/``), sorted."""
    base = root / "servers" if (root / "servers").is_dir() else root
    return sorted(p for p in base.glob("*/server.yaml") if p.is_file())


class FolderSource:
    """Servers described by ``server.yaml`` files in a local folder."""

    kind = "folder"

    def __init__(self, location: str) -> None:
        self.location = location
        self.root = Path(location).expanduser()

    def fetch(self, validators: Validators) -> FetchResult:
        """Read every server.yaml; unchanged files mean "not modified"."""
        if not self.root.is_dir():
            raise SourceError(f"catalog folder {self.root} does not exist", hint=SOURCE_HINT)
        files = server_files(self.root)
        if not files:
            raise SourceError(
                f"catalog folder {self.root} has no servers/<name>/server.yaml",
                hint="point at a docker/mcp-registry checkout (the folder that holds 'servers/')",
            )
        read: list[tuple[Path, bytes, bytes | None]] = []
        chunks: list[bytes] = []
        for path in files:
            tools_path = path.with_name("tools.json")
            data = read_capped(path, MAX_FILE_BYTES)
            tools = read_capped(tools_path, MAX_FILE_BYTES) if tools_path.is_file() else None
            read.append((path, data, tools))
            chunks += [str(path.relative_to(self.root)).encode(), data, tools or b""]
        new = Validators(content_hash=content_hash(chunks))
        if new.content_hash == validators.content_hash:
            return FetchResult(document=None, validators=new)
        return parsed_result(self._convert(read), new)

    def _convert(self, read: list[tuple[Path, bytes, bytes | None]]) -> CatalogDocument:
        warnings: list[str] = []
        converted: list[tuple[str, ServerSpec | None, list[str]]] = []
        for path, data, tools_bytes in read:
            origin = str(path)
            if len(data) > MAX_FILE_BYTES:
                warnings.append(f"{origin}: skipped: larger than {MAX_FILE_BYTES} bytes")
                continue
            try:
                document = decode_document(data, origin=origin)
            except CatalogFormatError as exc:
                warnings.append(f"{exc.message} (skipped)")
                continue
            tools = _tools(path.with_name("tools.json"), tools_bytes, warnings)
            converted.append((origin, *convert_server_yaml(document, origin=origin, tools=tools)))
        specs, converted_warnings = collect_converted(converted)
        warnings += converted_warnings
        return CatalogDocument(
            name=self.root.name,
            description=f"servers in {self.root}",
            servers=specs,
            warnings=warnings,
        )


def _tools(path: Path, data: bytes | None, warnings: list[str]) -> list[object] | None:
    if data is None:
        return None
    try:
        tools = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        warnings.append(f"{path}: tools ignored: not JSON ({exc})")
        return None
    if not isinstance(tools, list):
        warnings.append(f"{path}: tools ignored: not a list")
        return None
    return tools
