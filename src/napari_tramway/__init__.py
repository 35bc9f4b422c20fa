"""napari-tramway: maps of diffusivity, drift, force and potential from single-particle tracking.

>>> from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
>>> Analysis(spec, store="results").run(env="local")

The scripting façade (:class:`Analysis` and the operations on recorded cluster runs) is
:mod:`napari_tramway.analysis`, above :mod:`napari_tramway.core` (numpy, scipy, pandas, shapely),
:mod:`napari_tramway.pipeline` (specs, units, the unit worker, result stores) and
:mod:`napari_tramway.environments` (where units run). Importing this package does not import
napari, Qt or paramiko; the names below are imported when first used.
"""

from __future__ import annotations

from ._version import __version__

_FACADE = ("Analysis", "Results", "open_results")
_SPEC = ("AnalysisSpec", "DataFile", "EnvironmentSpec", "MeshSpec", "ModelSpec", "TimeWindowSpec")

__all__ = ["__version__", "read_trajectories", *_FACADE, *_SPEC]


def __getattr__(name):
    if name == "read_trajectories":
        from .core.io import read_trajectories

        return read_trajectories
    if name in _FACADE:
        from . import analysis

        return getattr(analysis, name)
    if name in _SPEC:
        from .pipeline import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
