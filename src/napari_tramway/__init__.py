"""napari-tramway: maps of diffusivity, drift, force and potential from single-particle tracking.

The headless library lives in :mod:`napari_tramway.core` (numpy/scipy/pandas only),
:mod:`napari_tramway.pipeline` (specs, units, result stores) and
:mod:`napari_tramway.environments` (where units run). Importing this package does not import
napari, Qt or paramiko.
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__", "read_trajectories"]


def __getattr__(name):
    if name == "read_trajectories":
        from .core.io import read_trajectories

        return read_trajectories
    raise AttributeError(name)
