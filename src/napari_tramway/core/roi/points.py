"""Points in the plane: the one way the ROI code takes x, y coordinates (µm)."""

from __future__ import annotations

import numpy as np


def as_xy(points) -> np.ndarray:
    """``points`` as an (N, 2) float array of x, y (µm); extra columns are dropped."""
    xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"expected an (N, 2) array of x, y coordinates (µm), got shape {xy.shape}")
    return xy[:, :2]
