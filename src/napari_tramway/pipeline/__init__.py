"""The analysis pipeline: one serialisable spec, work units, stages, result stores.

Needs only :mod:`napari_tramway.core` and numpy/scipy/pandas, so the unit worker runs on
cluster nodes inside containers.
"""

from .analysis import Analysis, Results, open_results
from .spec import (
    AnalysisSpec,
    DataFile,
    EnvironmentSpec,
    MeshSpec,
    ModelSpec,
    SpecError,
    TimeWindowSpec,
)
from .units import Unit, plan_units

__all__ = [
    "AnalysisSpec", "DataFile", "EnvironmentSpec", "MeshSpec", "ModelSpec", "SpecError", "TimeWindowSpec",
    "Unit", "plan_units", "Analysis", "Results", "open_results",
]
