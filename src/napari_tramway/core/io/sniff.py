"""Recognise a trajectory file's format from its first bytes, not from its extension.

* XML: the root element decides: ``<TrackMate>`` is a TrackMate session file, ``<root>`` holding
  ``<TrackContestISBI2012>`` (or a bare ``<Tracks>`` of TrackMate's "export tracks to XML") is the
  ISBI 2012 challenge format.
* Text without a header (the first line has no letter other than e/E): whitespace-separated
  numbers are TRamWAy text; comma- or semicolon-separated numbers a header-less CSV.
* Text with a header: the header tokens tell TrackMate spot tables (``POSITION_X``), trackpy
  (``particle``, ``frame``), MOSAIC ParticleTracker (``Trajectory``, ``Frame``, ``m0``...),
  ThunderSTORM (``x [nm]``, ``frame``) and generic tables apart.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass

from napari_tramway.core.errors import TrajectoryFormatError

from .columns import split_name
from .names import FORMATS

HEAD_BYTES = 1 << 16


#: A line is a header iff it holds a letter other than e/E (exponents) or an underscore.
HEADER_CHARS = re.compile(r"[a-df-zA-DF-Z_]")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a TRamWAy .rwa result file?)"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook? save it as CSV)"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (an Excel .xls workbook? save it as CSV)"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"MATLAB 5.0 MAT-file", "a MATLAB .mat file"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
)


@dataclass
class Sniffed:
    """What the first bytes tell: format name, text encoding, delimiter (None = whitespace)."""

    format: str
    encoding: str = "utf-8"
    delimiter: str | None = None
    header: bool = True


def read_head(path) -> tuple[str, bytes]:
    """``(absolute path, first bytes)`` of a readable, non-empty file (``~`` is expanded)."""
    try:
        p = os.path.abspath(os.path.expanduser(os.fspath(path)))
    except TypeError:
        raise TrajectoryFormatError(f"not a file path: {path!r}") from None
    if not os.path.exists(p):
        raise TrajectoryFormatError("no such file", path=p)
    if os.path.isdir(p):
        raise TrajectoryFormatError("is a directory, not a trajectory file", path=p)
    try:
        with open(p, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise TrajectoryFormatError(f"cannot be read: {exc.strerror or exc}", path=p) from None
    if not head.strip():
        raise TrajectoryFormatError("the file is empty", path=p)
    return p, head


def text_encoding(head: bytes, path: str) -> str:
    """``'utf-8'`` or ``'latin-1'``; raises when the bytes are not text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise TrajectoryFormatError(f"not a text file: it looks like {what}", path=path)
    nul = head.find(b"\x00")
    if nul >= 0:
        raise TrajectoryFormatError(
            f"not a text file: binary data (a NUL byte at offset {nul})", path=path
        )
    control = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    if control > max(2, len(head) // 1000):
        raise TrajectoryFormatError("not a text file: binary data (control characters)", path=path)
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if len(head) == HEAD_BYTES and exc.start >= len(head) - 3:
            return "utf-8"  # a multi-byte character cut by the end of the sample
    high = sum(1 for b in head if b >= 0x80)
    if high > len(head) // 10:
        raise TrajectoryFormatError(
            "not a text file: binary data (not UTF-8 or Latin-1 text)", path=path
        )
    return "latin-1"


def head_lines(head: bytes, encoding: str, limit: int = 64) -> list[str]:
    """The first complete lines of the sample (without line ends)."""
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(head) == HEAD_BYTES and lines and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut
    return lines[:limit]


def sniff(path: str, head: bytes, forced: str | None = None) -> Sniffed:
    """The format of the file whose first bytes are ``head``; ``forced`` skips the guessing."""
    if forced is not None and forced not in FORMATS:
        raise TrajectoryFormatError(
            f"unknown format {forced!r}; expected one of {', '.join(FORMATS)}", path=path
        )
    encoding = text_encoding(head, path)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff").lstrip()
    if forced in ("trackmate-xml", "isbi-xml"):
        return Sniffed(forced, encoding)
    if text.startswith("<"):
        if forced is not None:
            raise TrajectoryFormatError(
                f"format={forced!r} was asked for, but the file is XML", path=path
            )
        return Sniffed(_xml_format(text, path), encoding)
    lines = [ln for ln in head_lines(head, encoding) if ln.strip()]
    while lines and lines[0].lstrip().startswith("#"):
        lines.pop(0)
    if not lines:
        raise TrajectoryFormatError("the file holds only comments", path=path)
    first = lines[0]
    if not HEADER_CHARS.search(first):
        delimiter = _delimiter(lines[:20])
        fmt = forced or ("tramway-text" if delimiter in (None, "\t") else "csv")
        return Sniffed(fmt, encoding, None if fmt == "tramway-text" else delimiter, header=False)
    delimiter = _delimiter(lines[:20])
    tokens = split_line(first, delimiter)
    flavour = forced or flavour_of(tokens)
    if flavour is None:
        if delimiter is None or (delimiter == "\t" and _plain_numbers(lines[1:20])):
            flavour = "tramway-text"
        else:
            flavour = "csv"
    return Sniffed(flavour, encoding, None if flavour == "tramway-text" else delimiter)


def split_line(line: str, delimiter: str | None) -> list[str]:
    """Cells of one line: whitespace runs, or CSV rules with ``delimiter``."""
    if delimiter is None:
        return line.split()
    row = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    return [c.strip() for c in row]


def flavour_of(tokens: list[str]) -> str | None:
    """The tracker that writes a header with these cells, or ``None`` for a generic table."""
    norm = {split_name(t)[0] for t in tokens}
    raw = {t.strip().strip('"') for t in tokens}
    if "position_x" in norm and ("track_id" in norm or "label" in norm or "frame" in norm):
        return "trackmate-csv"
    if {"particle", "frame", "x", "y"} <= norm and "trajectory" not in norm:
        return "trackpy"
    if {"trajectory", "frame", "x", "y"} <= norm and (
        norm & {"m0", "m1", "m2", "npscore"} or {"Trajectory", "Frame"} <= raw
    ):
        return "mosaic"
    bracketed_x = any(
        split_name(t)[0] == "x" and split_name(t)[1] is not None and "[" in t for t in tokens
    )
    if bracketed_x and "frame" in norm:
        return "thunderstorm"
    return None


def _xml_format(text: str, path: str) -> str:
    body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.S).lstrip()
    m = re.match(r"<([A-Za-z_][\w.\-]*)", body)
    if not m:
        raise TrajectoryFormatError("an XML file without a root element", path=path)
    root = m.group(1)
    if root == "TrackMate":
        return "trackmate-xml"
    if root in ("Tracks", "TrackContestISBI2012"):
        return "isbi-xml"
    if root == "root" and re.search(r"<(TrackContestISBI2012|particle)\b", body):
        return "isbi-xml"
    raise TrajectoryFormatError(
        f"an XML file with root element <{root}>: neither a TrackMate file (<TrackMate>) nor an "
        "ISBI 2012 challenge file (<root><TrackContestISBI2012>)",
        path=path,
    )


def _delimiter(lines: list[str]) -> str | None:
    """The cell delimiter among ``,`` ``;`` tab used consistently on these lines, else None."""
    best, best_count = None, 0
    for d in (",", ";", "\t"):
        counts = [ln.count(d) for ln in lines]
        if counts and counts[0] > 0 and all(c >= counts[0] for c in counts[1:]):
            if counts[0] > best_count:
                best, best_count = d, counts[0]
    return best


def _plain_numbers(lines: list[str]) -> bool:
    """True when tab-separated ``lines`` hold only numbers and no empty cells."""
    for ln in lines:
        cells = ln.strip().split("\t")
        for c in cells:
            try:
                float(c)
            except ValueError:
                return False
    return True
