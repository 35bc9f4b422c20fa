"""Models: per-cell maps of diffusivity, drift, force and effective potential from assigned steps.

The science follows TRamWAy's models d, dd, df and dv (reference §4): the same likelihood with
localization error, priors, gradient operators, parameter names and output columns; see
``docs/models.md`` for the equations and for every deliberate deviation.

>>> maps = fit("dv", mesh, assignment, steps, diffusivity_prior=1.0, potential_prior=1.0)
>>> maps.table[["diffusivity", "potential", "force x", "force y"]]

:data:`MODELS` describes each model's parameters and output columns.
"""

from .fitting import DEFAULT_MIN_DIFFUSIVITY, DEFAULT_SIGMA, Progress, fit
from .operators import GradientOperator, delta0_operator, grad1_operator, penalty_matrix
from .registry import MODELS
from .statistics import StepStatistics, step_statistics

__all__ = [
    "MODELS", "fit", "Progress", "StepStatistics", "step_statistics", "GradientOperator", "grad1_operator",
    "delta0_operator", "penalty_matrix", "DEFAULT_SIGMA", "DEFAULT_MIN_DIFFUSIVITY",
]
