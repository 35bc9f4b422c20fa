"""Write ``saspt_tracks.csv``: a simulated track table laid out as saSPT / quot write them.

saSPT's sample detections (``examples/u2os_ht_nls_7.48ms/region_*_7ms_trajs.csv`` in
github.com/alecheckert/saspt) are quot localisation tables with a ``trajectory`` column: header
``y,x,I0,bg,y_err,x_err,I0_err,bg_err,H_det,error_flag,snr,rmse,n_iter,y_detect,x_detect,frame,
loc_idx,trajectory,subproblem_n_traj,subproblem_n_locs``, rows in frame order, positions in
**pixels** (0.16 µm), frames every 7.48 ms; the file states neither unit. This script simulates
Brownian trajectories with the known truth below and writes them in that layout (values made
up, not copied). Run it from the repository root to regenerate the fixture::

    python tests/core/data/make_saspt_tracks.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PIXEL_SIZE = 0.16  # µm
FRAME_INTERVAL = 0.00748  # s
DIFFUSIVITY = 2.5  # µm²/s
SIGMA = 0.03  # µm, localisation error added to each position
SEED = 7
N_TRACKS = 120
FIELD_PX = 128

HEADER = ("y,x,I0,bg,y_err,x_err,I0_err,bg_err,H_det,error_flag,snr,rmse,n_iter,y_detect,x_detect,"
          "frame,loc_idx,trajectory,subproblem_n_traj,subproblem_n_locs")


def simulate(seed: int = SEED) -> list[tuple[int, int, float, float]]:
    """``(trajectory, frame, y_px, x_px)`` rows in frame order."""
    rng = np.random.default_rng(seed)
    rows = []
    step = np.sqrt(2 * DIFFUSIVITY * FRAME_INTERVAL) / PIXEL_SIZE  # px per axis per frame
    for traj in range(N_TRACKS):
        length = int(rng.geometric(1 / 9)) + 1
        start = int(rng.integers(0, 400))
        pos = rng.uniform(10, FIELD_PX - 10, 2)
        path = pos + np.cumsum(np.vstack([np.zeros(2), rng.normal(0, step, (length - 1, 2))]), axis=0)
        path += rng.normal(0, SIGMA / PIXEL_SIZE, path.shape)
        for k, (y, x) in enumerate(path):
            rows.append((traj, start + k, float(y), float(x)))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def write(path: Path, seed: int = SEED) -> None:
    rng = np.random.default_rng(seed + 1)
    lines = [HEADER]
    for loc_idx, (traj, frame, y, x) in enumerate(simulate(seed)):
        i0 = rng.uniform(50, 160)
        bg = rng.uniform(1.5, 4.0)
        err = rng.uniform(0.15, 0.37)
        snr = i0 * rng.uniform(0.5, 2.5)
        cells = [y, x, i0, bg, err, err * 1.0001, rng.uniform(8, 16), rng.uniform(0.18, 0.32),
                 rng.uniform(0.001, 0.2), 0.0, snr, rng.uniform(1.2, 2.3), 10.0,
                 float(round(y)), float(round(x)), frame, loc_idx, traj, int(rng.integers(0, 3)), 1]
        lines.append(",".join(repr(c) if isinstance(c, float) else str(c) for c in cells))
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write(Path(__file__).with_name("saspt_tracks.csv"))
