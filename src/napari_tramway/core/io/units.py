"""Unit names found in trajectory files and their factors to µm and s.

Space factors convert a file's coordinates to µm; time factors convert its times to s. ``pixel``
and ``frame`` have no fixed factor: they need a pixel size (µm) or a frame interval (s).
"""

from __future__ import annotations

import math
import re

#: Marker factor for units that need a pixel size or a frame interval.
PIXEL = "pixel"
FRAME = "frame"

_SPACE = {
    "µm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometers": 1.0,
    "micrometre": 1.0,
    "micrometres": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "nanometers": 1e-3,
    "nanometre": 1e-3,
    "nanometres": 1e-3,
    "mm": 1e3,
    "m": 1e6,
    "pixel": PIXEL,
    "pixels": PIXEL,
    "px": PIXEL,
    "pix": PIXEL,
}

_TIME = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "msec": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "µs": 1e-6,
    "us": 1e-6,
    "microsecond": 1e-6,
    "microseconds": 1e-6,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "frame": FRAME,
    "frames": FRAME,
}

SPACE_UNIT_NAMES = tuple(_SPACE)
TIME_UNIT_NAMES = tuple(_TIME)
#: Every accepted spelling of a space / time unit and its factor to µm / s (or PIXEL / FRAME).
SPACE_FACTORS = dict(_SPACE)
TIME_FACTORS = dict(_TIME)


def normalize_unit(unit: str) -> str:
    """Lower-case a unit name, drop brackets and spaces, and map the Greek mu (U+03BC) to µ (U+00B5)."""
    u = unit.strip().strip("()[]{}").strip().lower()
    u = u.replace("\u03bc", "\u00b5")  # Greek small mu -> micro sign
    u = re.sub(r"\s+", "", u)
    if u.startswith("\u00b5") and u != "\u00b5m" and u != "\u00b5s":
        u = "u" + u[1:]
    return u


def space_factor(unit: str):
    """Factor from ``unit`` to µm, or :data:`PIXEL`; ``None`` when the unit is unknown."""
    return _SPACE.get(normalize_unit(unit))


def time_factor(unit: str):
    """Factor from ``unit`` to s, or :data:`FRAME`; ``None`` when the unit is unknown."""
    return _TIME.get(normalize_unit(unit))


def canonical_space_unit(unit: str) -> str:
    """``'µm'``, ``'nm'`` or ``'px'`` for any spelling of those; else the normalised name."""
    return {1.0: "µm", 1e-3: "nm", PIXEL: "px"}.get(space_factor(unit), normalize_unit(unit))


def canonical_time_unit(unit: str) -> str:
    """``'s'``, ``'ms'`` or ``'frame'`` for any spelling of those; else the normalised name."""
    return {1.0: "s", 1e-3: "ms", FRAME: "frame"}.get(time_factor(unit), normalize_unit(unit))


def is_frame_unit(unit) -> bool:
    """True when ``unit`` names frames (times that need a frame interval)."""
    return unit is not None and time_factor(unit) == FRAME


def is_pixel_unit(unit) -> bool:
    """True when ``unit`` names pixels (coordinates that need a pixel size)."""
    return unit is not None and space_factor(unit) == PIXEL


def calibrated(value, unit, factor_of) -> float | None:
    """A calibration attribute of a file (pixel size, frame interval) in µm or s.

    ``value`` is the attribute's text, ``unit`` the unit the file states and ``factor_of`` is
    :func:`space_factor` or :func:`time_factor`. ``None`` when either is absent, the unit is
    unknown or relative (pixel, frame), or the value is not a positive finite number.
    """
    if value is None or not unit:
        return None
    factor = factor_of(unit)
    if not isinstance(factor, float):
        return None
    try:
        v = float(value)
    except ValueError:
        return None
    return v * factor if math.isfinite(v) and v > 0 else None


def positive(value, name: str):
    """``value`` as a positive finite float, or ``None``; raises ``ValueError`` naming ``name``."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v
