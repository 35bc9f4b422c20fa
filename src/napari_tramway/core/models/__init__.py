"""Models: per-cell maps of diffusivity, drift, force and effective potential from assigned steps.

The science follows TRamWAy's models d, dd, df and dv (reference §4): the same likelihood with
localization error, priors, gradient operators, parameter names and output columns; see
``docs/models.md`` for the equations and for every deliberate deviation.

>>> maps = fit("dv", mesh, assignment, steps, diffusivity_prior=1.0, potential_prior=1.0)
>>> maps.table[["diffusivity", "potential", "force x", "force y"]]

:data:`MODELS` describes each model's parameters and output columns.
"""

from ..lazy import lazy_exports
from .registry import MODELS

#: Names imported on first use (the fits need scipy.optimize, pandas...; the registry does not).
_LAZY = {
    **dict.fromkeys(("fit", "Progress", "DEFAULT_MIN_DIFFUSIVITY"), "fitting"),
    **dict.fromkeys(("GradientOperator", "grad1_operator", "delta0_operator", "penalty_matrix"), "operators"),
    **dict.fromkeys(("StepStatistics", "step_statistics"), "statistics"),
}

__all__ = [
    "MODELS", "fit", "Progress", "StepStatistics", "step_statistics", "GradientOperator", "grad1_operator",
    "delta0_operator", "penalty_matrix", "DEFAULT_MIN_DIFFUSIVITY",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
