"""The analysis pipeline: one serialisable spec, work units, stages, the unit worker, result stores.

Needs only :mod:`napari_tramway.core` and numpy/scipy/pandas/shapely, so the unit worker
(:mod:`.worker`) runs on cluster nodes inside containers. It never imports the environments:
running an analysis somewhere is the façade's, :class:`napari_tramway.Analysis`. The names below
are imported when first used (importing :mod:`.events` alone costs nothing).
"""

from importlib import import_module

_LAZY = {
    **dict.fromkeys(("AnalysisSpec", "DataFile", "EnvironmentSpec", "MeshSpec", "ModelSpec", "SpecError",
                     "TimeWindowSpec"), "spec"),
    **dict.fromkeys(("Unit", "plan_units"), "units"),
    **dict.fromkeys(("Results", "open_results"), "results"),
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name == "Analysis":  # it moved up: the pipeline does not know where it runs
        raise AttributeError("napari_tramway.pipeline.Analysis is now napari_tramway.Analysis "
                             "(from napari_tramway import Analysis)")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
