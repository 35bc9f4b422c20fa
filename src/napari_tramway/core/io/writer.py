"""Writing a locations table as TRamWAy text, with its metadata file beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_tramway.core.archive import atomic_write

from .metadata import write_metadata


def write_trajectories_text(df: pd.DataFrame, path, *, frame_interval: float | None = None,
                            localization_precision: float | None = None) -> str:
    """Write a locations table as TRamWAy text, with its units, frame interval and σ beside it.

    The data file is tab-separated ``n x y [z] t`` with a header (as TRamWAy reads it):
    coordinates (µm) and times (s) with 6 decimals (1e-6 µm, 1 µs), ids as integers;
    ``read_trajectories`` reads it back to within 5e-7. The metadata file ``<path>.meta.json``
    (:mod:`.metadata`) records the units (µm, s) and, when given, ``frame_interval`` (s) and
    ``localization_precision`` (σ, µm), so that a re-read takes them from the file (give the
    values the table was analysed with, e.g. a ``TrajectoryFile``'s; an estimated frame interval
    need not be given: it is estimated again from the same times). Nothing is taken from
    ``df.attrs``. Both files are replaced atomically. Returns the metadata file's path.
    """
    cols = ["n", "x", "y"] + (["z"] if "z" in df.columns else []) + ["t"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"write_trajectories_text: missing columns {missing}")
    out = pd.DataFrame({c: df[c] for c in cols}, copy=False)
    out["n"] = out["n"].astype(np.int64)
    with atomic_write(path) as fh:
        out.to_csv(fh, sep="\t", index=False, float_format="%.6f", lineterminator="\n")
    return write_metadata(path, {"space_unit": "µm", "time_unit": "s", "frame_interval": frame_interval,
                                 "localization_precision": localization_precision})
