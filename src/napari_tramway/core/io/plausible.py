"""Do the values look like what they are taken for? Cheap checks on sampled rows.

* :func:`pixel_signs`: positions read as µm because nothing states their unit, but which look
  like pixels (integer or half-integer values, a range of hundreds, steps of a micrometre or
  more between consecutive locations);
* :func:`frame_signs`: times read as seconds that look like frame numbers (integers, step 1);
* :func:`check_looks_tabular`: when no column is recognised, whether the text is a table of
  numbers at all (else "not a trajectory file", with what was found).
"""

from __future__ import annotations

import numpy as np

from napari_tramway.core.errors import NotTrajectoryFileError

from .sniff import head_lines, split_line

#: Rows looked at (the first ones for steps, evenly spaced ones for ranges).
SAMPLE_ROWS = 100_000
#: Positions read as µm that look like pixels: a range at least this large (µm) ...
PIXEL_RANGE = 100.0
#: ... or a median step between consecutive locations at least this large (µm).
PIXEL_STEP = 1.0


def pixel_signs(x: np.ndarray, y: np.ndarray, n: np.ndarray) -> list[str]:
    """Why positions ``x``, ``y`` (read as µm; rows sorted by trajectory ``n``) look like pixels."""
    signs = []
    size = x.size
    if size < 2:
        return signs
    stride = max(1, size // SAMPLE_ROWS)
    xs, ys = x[::stride], y[::stride]
    extent = float(max(np.ptp(xs), np.ptp(ys)))
    values = np.concatenate([xs[:5000], ys[:5000]])
    if values.size >= 20 and extent >= 10 and np.mean(np.mod(values * 2, 1) == 0) >= 0.95:
        signs.append("integer or half-integer values")
    if extent >= PIXEL_RANGE:
        signs.append(f"a range of {extent:.0f}")
    m = min(size, SAMPLE_ROWS)
    same = n[1:m] == n[: m - 1]
    steps = np.hypot(np.diff(x[:m]), np.diff(y[:m]))[same]
    if steps.size >= 5:
        median = float(np.median(steps))
        if median >= PIXEL_STEP:
            signs.append(f"a median step of {median:.3g} between consecutive locations")
    return signs


def frame_signs(t: np.ndarray, n: np.ndarray) -> list[str]:
    """Why times ``t`` (read as s; rows sorted by (n, t)) look like frame numbers."""
    m = min(t.size, SAMPLE_ROWS)
    if m < 3:
        return []
    head = t[:m]
    same = n[1:m] == n[: m - 1]
    steps = np.diff(head)[same]
    steps = steps[steps > 0]
    if steps.size >= 2 and np.all(head == np.round(head)) and float(np.median(steps)) == 1.0:
        return ["integer values with a median step of 1"]
    return []


def check_looks_tabular(path: str, head: bytes, encoding: str, delimiter: str | None, header: bool) -> None:
    """Raise :class:`NotTrajectoryFileError` unless the first lines hold rows of numbers.

    Called when no column could be recognised: it tells a table with unfamiliar column names
    (worth a column mapping) from text that holds no trajectories at all (prose, a log, a table of
    words). A row of a trajectory table holds at least 3 numbers (trajectory id, x, y; t or
    frame); a file is "not a trajectory file" when most of its first data lines hold fewer.
    """
    lines = [(i, ln) for i, ln in enumerate(head_lines(head, encoding, limit=80), 1) if ln.strip()]
    lines = [(i, ln) for i, ln in lines if not ln.lstrip().startswith("#")]
    rows = lines[1:21] if header else lines[:20]
    if not rows:
        return
    counts = [sum(_is_number(c, delimiter) for c in split_line(ln, delimiter)) for _, ln in rows]
    if sum(c >= 3 for c in counts) * 2 >= len(counts):
        return
    most = max(counts)
    if most == 0:
        found = "lines of words, not numbers"
    else:
        found = (f"at most {most} number{'s' if most > 1 else ''} per line, where a trajectory table has at "
                 "least 3 columns of numbers (trajectory id, x, y and t or frame)")
    line, text = rows[0]
    sample = text.strip()
    sample = sample if len(sample) <= 60 else sample[:57] + "..."
    raise NotTrajectoryFileError(
        f"not a trajectory file: found {found} (line {line}: {sample!r}); expected a table of "
        "trajectories (e.g. columns n x y t) or a TrackMate / ISBI XML file",
        path=path,
    )


def _is_number(cell: str, delimiter: str | None) -> bool:
    cell = cell.strip().strip('"').strip("'")
    if delimiter == ";":
        cell = cell.replace(",", ".")  # decimal comma
    try:
        float(cell)
    except ValueError:
        return False
    return cell.lower() not in ("nan", "inf", "-inf", "infinity")
