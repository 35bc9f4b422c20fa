"""Streaming XML parsing with line numbers, for the TrackMate and ISBI readers.

The stdlib expat parser (the one under ``xml.etree``) is fed the file in blocks, so memory does
not grow with the file, and it reports the line of every element, so a bad value is located as
precisely as in a text file. Malformed XML raises :class:`TrajectoryFormatError` with the line
the parser stopped at.
"""

from __future__ import annotations

import math
from xml.parsers import expat

from napari_tramway.core.errors import TrajectoryFormatError

BLOCK = 1 << 20


def parse(path: str, start, end=None) -> None:
    """Stream ``path`` through expat, calling ``start(name, attrs, line)`` and ``end(name)``."""
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def on_start(name, attrs):
        start(name, attrs, parser.CurrentLineNumber)

    parser.StartElementHandler = on_start
    if end is not None:
        parser.EndElementHandler = end
    try:
        with open(path, "rb") as f:
            while True:
                block = f.read(BLOCK)
                parser.Parse(block, not block)
                if not block:
                    break
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise TrajectoryFormatError(
            f"malformed XML: {reason} (at character {exc.offset + 1} of the line)",
            path=path,
            line=exc.lineno,
        ) from None


def number(attrs: dict, key: str, path: str, line: int, what: str, required: bool = True):
    """``float(attrs[key])``, checked finite; ``None`` when absent and not ``required``."""
    value = attrs.get(key)
    if value is None:
        if not required:
            return None
        raise TrajectoryFormatError(f"{what} has no {key} attribute", path=path, line=line)
    try:
        v = float(value)
    except ValueError:
        raise TrajectoryFormatError(
            f"{what}: {key}={value!r} is not a number", path=path, line=line, column=key
        ) from None
    if not math.isfinite(v):
        raise TrajectoryFormatError(
            f"{what}: {key}={value!r} is not a finite number", path=path, line=line, column=key
        )
    return v


def integer(attrs: dict, key: str, path: str, line: int, what: str, required: bool = True):
    """``int(attrs[key])`` (``'12'`` or ``'12.0'``); ``None`` when absent and not ``required``."""
    v = number(attrs, key, path, line, what, required)
    if v is None:
        return None
    if v != int(v):
        raise TrajectoryFormatError(
            f"{what}: {key}={attrs[key]!r} is not an integer", path=path, line=line, column=key
        )
    return int(v)
