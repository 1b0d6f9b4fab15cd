"""Icon checks: a submission's icon file is small, of an accepted type, and square.

The type is read from the file's own bytes (never its name): PNG, JPEG, WebP and GIF
headers give the dimensions without decoding the image; an SVG must be XML with an
``<svg>`` root and nothing that runs (no ``<script>``, no ``on…`` handlers, no
``javascript:`` links). GIF is recognised only to say it is not accepted.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

#: Largest icon file accepted, in bytes.
MAX_ICON_BYTES = 256 * 1024
#: Largest raster icon side, in pixels.
MAX_ICON_SIDE = 512
#: Icon types accepted in a registry.
ACCEPTED = ("png", "jpeg", "webp", "svg")
_EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".svg": "svg"}


@dataclass(frozen=True)
class IconInfo:
    """What an icon's bytes are: its type and, for rasters, its size in pixels."""

    kind: str | None  # png, jpeg, webp, gif, svg; None when unrecognised
    width: int | None = None
    height: int | None = None
    problem: str = ""  # why an SVG is refused (script, not XML, ...)


def expected_kind(filename: str) -> str | None:
    """The type a file name promises (``icon.jpg`` → ``jpeg``)."""
    for ext, kind in _EXTENSIONS.items():
        if filename.lower().endswith(ext):
            return kind
    return None


def sniff(data: bytes) -> IconInfo:
    """Identify an icon from its bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return IconInfo("png", width, height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return IconInfo("gif", width, height)
    return _svg(data)


def _jpeg(data: bytes) -> IconInfo:
    # Walk the segments to the first start-of-frame marker, which holds the size.
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return IconInfo("jpeg", width, height)
        pos += 2 + length
    return IconInfo("jpeg")


def _webp(data: bytes) -> IconInfo:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return IconInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return IconInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return IconInfo("webp", width, height)
    return IconInfo("webp")


def _svg(data: bytes) -> IconInfo:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return IconInfo(None)
    if "<svg" not in text:
        return IconInfo(None)
    # DTDs allow entity expansion bombs and external entities; an icon needs neither.
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        return IconInfo("svg", problem="it has a DOCTYPE or ENTITY declaration")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD can reach the parser (checked above)
    except ET.ParseError as exc:
        return IconInfo("svg", problem=f"it is not well-formed XML ({exc})")
    return IconInfo("svg", problem=_svg_problem(root))


def _svg_problem(root: ET.Element) -> str:
    """Why a parsed SVG is refused, or ``""``."""
    if _local(root.tag) != "svg":
        return f"its root element is <{_local(root.tag)}>, not <svg>"
    for element in root.iter():
        if _local(element.tag) in ("script", "foreignObject"):
            return f"it has a <{_local(element.tag)}> element"
        for name, value in element.attrib.items():
            if _local(name).lower().startswith("on"):
                return f"it has an event handler ({_local(name)})"
            if value.strip().lower().startswith("javascript:"):
                return "it has a javascript: link"
    return ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
