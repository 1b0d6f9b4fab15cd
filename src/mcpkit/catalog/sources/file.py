"""A catalog in a local YAML or JSON file (ours or a Docker catalog file)."""

from __future__ import annotations

from pathlib import Path

from mcpkit.catalog.document import MAX_DOCUMENT_BYTES, load_catalog_text
from mcpkit.catalog.sources.base import (
    SOURCE_HINT,
    FetchResult,
    Validators,
    content_hash,
    parsed_result,
)
from mcpkit.errors import SourceError


class FileSource:
    """Reads a catalog file; unchanged bytes (same hash) mean "not modified"."""

    kind = "file"

    def __init__(self, location: str) -> None:
        self.location = location
        self.path = Path(location).expanduser()

    def fetch(self, validators: Validators) -> FetchResult:
        """Read and parse the file, unless its bytes hash as last time."""
        data = read_capped(self.path)
        digest = content_hash([data])
        new = Validators(content_hash=digest)
        if validators.content_hash == digest:
            return FetchResult(document=None, validators=new)
        return parsed_result(load_catalog_text(data, origin=str(self.path)), new)


def read_capped(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """Read at most ``limit + 1`` bytes (so oversize is detected without reading it all)."""
    try:
        with path.open("rb") as fh:
            return fh.read(limit + 1)
    except FileNotFoundError as exc:
        raise SourceError(f"catalog file {path} does not exist", hint=SOURCE_HINT) from exc
    except IsADirectoryError as exc:
        raise SourceError(
            f"catalog file {path} is a directory",
            hint="for a docker/mcp-registry checkout add it as a folder source (kind 'folder')",
        ) from exc
    except OSError as exc:
        raise SourceError(
            f"cannot read catalog file {path}: {exc.strerror or exc}", hint=SOURCE_HINT
        ) from exc
