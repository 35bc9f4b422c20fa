"""TRamWAy text files: whitespace-separated numbers, one location per line.

Layout (``tramway/core/xyt.py`` conventions, without its quirks):

* any run of spaces or tabs separates the values; blank lines and leading ``#`` lines are skipped;
* the first line is a header iff it holds a letter other than e/E or an underscore, so ``1e-3``
  is a number; header tokens name the columns (``columns=[...]`` overrides them);
* without a header, 4 columns are ``n x y t`` and 5 are ``n x y z t``; 3 columns (``x y t``) are
  refused: the molecules are not tracked. The first data line is never swallowed;
* units are µm and s unless ``space_unit``/``time_unit`` say otherwise.

Big files are parsed by pandas' C parser in byte ranges of ~8 MB on a few threads (the parser
releases the GIL), each range copied into preallocated columns: about 1.15x the table's size
in memory. Lines with a wrong number of values, text or NaN are reported with their line
number and column by rescanning only the range that failed.
"""

from __future__ import annotations

import io
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from napari_tramway.core.errors import ColumnError, TrajectoryFormatError

from . import columns as C
from .assemble import Options, RawTable
from .plausible import check_looks_tabular
from .sniff import HEADER_CHARS, Sniffed
from .writer import write_trajectories_text  # noqa: F401  (its home before it had a module)

CHUNK_BYTES = 8 << 20
#: Files below this size are parsed in one go, without threads.
SMALL_FILE = 8 << 20


def read_text(path: str, head: bytes, sniffed: Sniffed, opts: Options) -> RawTable:
    """Read a TRamWAy text file into a :class:`RawTable` (values as in the file)."""
    layout = _layout(path, head, sniffed.encoding)
    names = _names(path, layout, opts)
    mapping = opts.columns if isinstance(opts.columns, dict) else None
    roles, units = C.resolve(names, path, mapping)
    try:
        C.require(roles, names, path)
    except ColumnError:
        check_looks_tabular(path, head, sniffed.encoding, None, layout["header"] is not None)
        raise
    wanted = list(dict.fromkeys(roles.values()))
    extras = [c for c in names if c not in wanted]
    usecols = wanted + (extras if opts.keep_columns else [])
    arrays = parse_numeric(
        path,
        layout["data_offset"],
        layout["first_data_line"],
        names,
        usecols,
        sniffed.encoding,
        threads=opts.threads,
        int_cols=(roles["n"],),
    )
    first_line = layout["first_data_line"]
    data_offset = layout["data_offset"]
    return RawTable(
        path=path,
        format="tramway-text",
        data=arrays,
        roles=roles,
        units={k: v for k, v in units.items() if v},
        extras=extras if opts.keep_columns else [],
        line_of_row=lambda row: line_of_row(path, data_offset, first_line, row),
    )


# --- layout ---------------------------------------------------------------------------------


def _layout(path: str, head: bytes, encoding: str) -> dict:
    """Header tokens (or None), byte offset and line number of the first data line, width."""
    size = os.path.getsize(path)
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    line_no = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0 and len(head) < size:
            raise TrajectoryFormatError(
                f"line {line_no + 1} is longer than {len(head)} bytes: not a trajectory table",
                path=path,
            )
        end = nl if nl >= 0 else len(head)
        line = head[pos:end].decode(encoding, errors="replace").strip()
        line_no += 1
        if line and not line.startswith("#"):
            break
        if nl < 0:
            raise TrajectoryFormatError("the file holds no data (only blank or # lines)", path=path)
        pos = nl + 1
    width = len(line.split())
    if HEADER_CHARS.search(line):
        return {
            "header": line.split(),
            "header_line": line_no,
            "width": width,
            "data_offset": end + 1 if nl >= 0 else end,
            "first_data_line": line_no + 1,
        }
    return {
        "header": None,
        "header_line": None,
        "width": width,
        "data_offset": pos,
        "first_data_line": line_no,
    }


def _names(path: str, layout: dict, opts: Options) -> list[str]:
    if layout["header"] is not None and not isinstance(opts.columns, (list, tuple)):
        return C.dedupe(layout["header"])
    line = layout["header_line"] or layout["first_data_line"]
    return C.headerless_names(path, layout["width"], opts.columns, line)


# --- parsing --------------------------------------------------------------------------------


def parse_numeric(
    path: str,
    data_offset: int,
    first_data_line: int,
    names: list[str],
    usecols: list[str],
    encoding: str = "utf-8",
    threads: int | None = None,
    int_cols: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Parse whitespace-separated numbers from ``data_offset`` on into columns.

    Only the ``usecols`` columns are converted (float64; int64 for ``int_cols``, whose values
    must be integers); every line must hold ``len(names)`` values. Byte ranges are parsed on
    ``threads`` threads, each copying its rows straight into the preallocated output at the
    offset left by the range before it. Raises :class:`TrajectoryFormatError` with the line and
    column of the first bad value.
    """
    size = os.path.getsize(path)
    bounds = _chunk_bounds(path, data_offset, size)
    n_chunks = len(bounds) - 1
    workers = _workers(threads, n_chunks, size)
    capacity = _row_estimate(path, data_offset, size)
    out = {c: np.empty(capacity, dtype=np.int64 if c in int_cols else np.float64) for c in usecols}
    offsets = [0] * (n_chunks + 1)
    ready = [threading.Event() for _ in range(n_chunks + 1)]
    ready[0].set()
    abort = threading.Event()
    done = [False] * n_chunks
    errors: dict[int, str] = {}
    overflow: dict[int, tuple[int, dict]] = {}
    buffers: dict[int, bytearray] = {}

    def work(k: int) -> None:
        try:
            result = (
                None
                if abort.is_set()
                else _parse_chunk(path, bounds[k], bounds[k + 1], names, usecols, buffers)
            )
            ready[k].wait()
            if isinstance(result, str):
                errors[k] = result
            if result is None or isinstance(result, str) or abort.is_set():
                abort.set()
                return
            cols, rows = result
            off = offsets[k]
            offsets[k + 1] = off + rows
            ready[k + 1].set()
            if off + rows > capacity:  # stored once the total is known, checked now
                overflow[k] = (off, cols)
                bad = next((c for c in int_cols if not _integral(cols[c])), None)
            else:
                bad = _store(out, off, cols, int_cols)
            if bad is not None:
                errors[k] = f"non-integer value in column {bad}"
                abort.set()
                return
            done[k] = True
        finally:
            ready[k + 1].set()

    if workers <= 1:
        for k in range(n_chunks):
            work(k)
            if abort.is_set():
                break
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for f in [pool.submit(work, k) for k in range(n_chunks)]:
                f.result()
    if errors or abort.is_set():
        first = min(errors) if errors else n_chunks
        for k in range(first):  # a range skipped after the abort may hold an earlier error
            if not done[k] and isinstance(
                why := _parse_chunk(path, bounds[k], bounds[k + 1], names, usecols), str
            ):
                first, errors[k] = k, why
                break
        _locate_error(
            path,
            bounds,
            first,
            data_offset,
            first_data_line,
            names,
            usecols,
            int_cols,
            encoding,
            errors.get(first, ""),
        )
    total = offsets[n_chunks]
    if total == 0:
        raise TrajectoryFormatError(
            "no data rows" + (" after the header" if first_data_line > 1 else ""),
            path=path,
            line=first_data_line - 1 if first_data_line > 1 else None,
        )
    if overflow:
        for c in usecols:
            bigger = np.empty(total, dtype=out[c].dtype)
            kept = min(capacity, total)
            bigger[:kept] = out[c][:kept]
            out[c] = bigger
        for off, cols in overflow.values():
            _store(out, off, cols, ())
    return {c: out[c][:total] for c in usecols}


def _store(out: dict, off: int, cols: dict, int_cols) -> str | None:
    """Copy one range's columns into ``out`` from row ``off``; the first integer column that
    received a non-integer value, else ``None``."""
    for c, values in cols.items():
        seg = out[c][off : off + len(values)]
        seg[:] = values
        if c in int_cols and not np.array_equal(seg, values):
            return c
    return None


def _integral(values: np.ndarray) -> bool:
    return np.array_equal(values, values.astype(np.int64))


def _row_estimate(path: str, start: int, size: int) -> int:
    """Rows to preallocate: the line rate of the first MiB of data times the data size, +10%."""
    with open(path, "rb") as f:
        f.seek(start)
        sample = f.read(1 << 20)
    lines = sample.count(b"\n") + 1
    if size - start <= len(sample):
        return lines
    return int(lines * (size - start) / max(len(sample), 1) * 1.1) + 1024


def _workers(threads, n_chunks, size) -> int:
    if threads is not None:
        return max(1, int(threads))
    if size < SMALL_FILE or n_chunks < 2:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4, n_chunks))


def _chunk_bounds(path: str, start: int, size: int) -> list[int]:
    """Byte offsets cutting ``[start, size)`` into ranges of ~CHUNK_BYTES ending at line ends."""
    if size - start <= CHUNK_BYTES:
        return [start, size]
    bounds = [start]
    with open(path, "rb") as f:
        while True:
            pos = bounds[-1] + CHUNK_BYTES
            if pos >= size:
                break
            f.seek(pos)
            f.readline()
            cut = f.tell()
            if cut >= size:
                break
            bounds.append(cut)
    bounds.append(size)
    return bounds


def _fast_sep(buf: bytes) -> str:
    """A one-character separator likely equivalent to ``\\s+`` on this buffer.

    pandas' C parser splits on a single tab or space about twice as fast as on ``\\s+``. The
    choice is made on the first 64 KiB; a range that then fails to parse with it is parsed
    again with ``\\s+`` (a line that parses into the expected numbers with one tab or space
    between values gives the same numbers with ``\\s+``).
    """
    sample = buf[: 1 << 16]
    if b"\r" in sample:
        return r"\s+"
    for c, other in ((b"\t", b" "), (b" ", b"\t")):
        if other in sample or c + c in sample or b"\n" + c in sample or c + b"\n" in sample:
            continue
        if sample.startswith(c):
            continue
        return c.decode()
    return r"\s+"


class _BufferReader(io.RawIOBase):
    """A read-only file over a memoryview, without copying it (pandas reads it in blocks)."""

    def __init__(self, view: memoryview):
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), len(self._view) - self._pos)
        b[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n


def _read_range(path: str, start: int, end: int, buffers: dict) -> memoryview:
    """Bytes ``[start, end)`` of ``path``, in a buffer reused by this thread during one read.

    Reusing one buffer per thread avoids mapping fresh memory for every range, which costs as
    much as parsing on some virtual machines. ``buffers`` lives as long as one file's read.
    """
    size = end - start
    key = threading.get_ident()
    buf = buffers.get(key)
    if buf is None or len(buf) < size:
        buf = buffers[key] = bytearray(size + (1 << 16))  # ranges differ by about a line
    view = memoryview(buf)[:size]
    with open(path, "rb") as f:
        f.seek(start)
        got = f.readinto(view)
    return view[:got]


def _parse_chunk(path, start, end, names, usecols, buffers=None):
    """``({column: float64 array}, rows)`` for one byte range, or an error text."""
    view = _read_range(path, start, end, {} if buffers is None else buffers)
    try:
        head = bytes(view[: 1 << 16])
        if not head.strip() and not bytes(view).strip():
            return {c: np.empty(0) for c in usecols}, 0
        sep = _fast_sep(head)
        result = _parse_buffer(view, sep, names, usecols)
        if isinstance(result, str) and sep != r"\s+":
            result = _parse_buffer(view, r"\s+", names, usecols)
        return result
    finally:
        view.release()


def _parse_buffer(buf, sep, names, usecols):
    """Parse one buffer strictly: every line must hold ``len(names)`` values.

    No ``names``/``usecols`` are given to pandas, so that a line with too many values is an
    error instead of being truncated silently; too few values leave NaN, caught below.
    """
    width = len(names)
    position = {c: names.index(c) for c in usecols}
    try:
        df = pd.read_csv(
            _BufferReader(buf),
            sep=sep,
            header=None,
            dtype={i: np.float64 for i in position.values()},
            index_col=False,
            engine="c",
            na_filter=False,
        )
    except (ValueError, pd.errors.ParserError, IndexError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    if df.shape[1] != width:
        return f"{df.shape[1]} values per line instead of {width}"
    cols = {c: df[i].to_numpy(dtype=np.float64, copy=False) for c, i in position.items()}
    for c in usecols:
        if not np.isfinite(cols[c]).all():
            return "non-finite value"
    return cols, len(df)


# --- error localisation ---------------------------------------------------------------------


def _count_newlines(path: str, start: int, end: int) -> int:
    count = 0
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(left, 16 << 20))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
    return count


def _locate_error(
    path, bounds, k, data_offset, first_data_line, names, usecols, int_cols, encoding, why
):
    """Rescan byte range ``k`` line by line and raise on its first bad line."""
    start, end = bounds[k], bounds[k + 1]
    first = line_no = first_data_line + _count_newlines(path, data_offset, start)
    width = len(names)
    index = {c: names.index(c) for c in usecols}
    with open(path, "rb") as f:
        f.seek(start)
        buf = f.read(end - start)
    for raw in buf.split(b"\n"):
        s = raw.decode(encoding, errors="replace").strip()
        if s:
            tokens = s.split()
            if len(tokens) != width:
                raise TrajectoryFormatError(
                    f"expected {width} values ({' '.join(names)}), found {len(tokens)}: {s[:80]!r}",
                    path=path,
                    line=line_no,
                )
            for c in usecols:
                tok = tokens[index[c]]
                try:
                    v = float(tok)
                except ValueError:
                    raise TrajectoryFormatError(
                        f"{tok!r} is not a number", path=path, line=line_no, column=c
                    ) from None
                if c in int_cols and math.isfinite(v) and v != int(v):
                    raise TrajectoryFormatError(
                        f"trajectory id {tok!r} is not an integer",
                        path=path,
                        line=line_no,
                        column=c,
                    )
                if not math.isfinite(v):
                    what = "missing value" if math.isnan(v) else "infinite value"
                    raise TrajectoryFormatError(
                        f"{what} ({tok!r}); every location needs finite numbers",
                        path=path,
                        line=line_no,
                        column=c,
                    )
        line_no += 1
    raise TrajectoryFormatError(f"cannot parse lines {first}-{line_no - 1}: {why}", path=path)


def line_of_row(path: str, data_offset: int, first_data_line: int, row: int) -> int | None:
    """The 1-based line of data row ``row`` (blank lines are not rows), by rescanning."""
    line_no = first_data_line
    seen = -1
    with open(path, "rb") as f:
        f.seek(data_offset)
        for raw in f:
            if raw.strip():
                seen += 1
                if seen == row:
                    return line_no
            line_no += 1
    return None
