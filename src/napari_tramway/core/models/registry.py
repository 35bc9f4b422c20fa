"""The model registry: each model's parameters (type, default, unit, range, help) and output columns.

The CLI options, the napari forms, spec validation and the docs table are generated from
:data:`MODELS`; :func:`napari_tramway.core.models.fit` validates through it.
"""

from __future__ import annotations

from importlib import import_module

from napari_tramway.core.defaults import LOCALIZATION_PRECISION
from napari_tramway.core.parameters import Parameter, Registry, RegistryEntry

SIGMA = Parameter(
    "sigma", "float", None, unit="µm", minimum=0.0,
    help=f"Localization precision σ; unset: the data's localization precision, else {LOCALIZATION_PRECISION} µm",
)
MIN_STEPS = Parameter(
    "min_steps", "int", 20, minimum=1, advanced=True,
    help="Cells with fewer steps are flagged 'few steps' (still estimated; intervals are validated from 20 steps)",
)
JEFFREYS = Parameter("jeffreys_prior", "bool", False, help="Add the Jeffreys prior on D (TRamWAy's form for this model)")
MIN_D = Parameter(
    "min_diffusivity", "float", None, unit="µm²/s", minimum=0.0, exclusive_minimum=True, advanced=True,
    help="Lower bound of D; unset: 1e-8 µm²/s (TRamWAy lets D go below zero)",
)
MAX_ITER = Parameter("max_iter", "int", 1000, minimum=1, advanced=True,
                     help="Maximum optimizer iterations of the joint (smoothed / dv) fits")
TOLERANCE = Parameter(
    "tolerance", "float", 1e-5, minimum=0.0, exclusive_minimum=True, advanced=True,
    help="Convergence: largest gradient of the information-scaled variables (≈ distance to the optimum in sd)",
)
RGRAD = Parameter("rgrad", "str", "grad1", choices=("grad1", "delta0"), advanced=True,
                  help="Smoothing penalty: grad1 gradient or delta0 local variation")
RGRAD_DV = Parameter("rgrad", "str", "delta0", choices=("grad1", "delta0"), advanced=True,
                     help="Smoothing penalty: delta0 local variation (TRamWAy analyzer's DV) or grad1 gradient")
ANGLE = Parameter("grad_selection_angle", "float", 0.9, minimum=0.0, maximum=1.0, exclusive_minimum=True,
                  advanced=True, help="grad1 neighbour selection: a neighbour counts on a side within s·90° of the axis")


def _prior(name, unit, what):
    return Parameter(name, "float", None, unit=unit, minimum=0.0,
                     help=f"{what}; unset or 0: none")


D_PRIOR = _prior("diffusivity_prior", "s²/µm⁴", "Weight μ of the D smoothing prior μ Σ A‖∇D‖²")
DRIFT_PRIOR = _prior("drift_prior", "s²/µm⁴", "Weight λ of the per-cell drift prior λ Σ A‖a‖²")
FORCE_PRIOR = _prior("force_prior", "", "Weight λ of the per-cell force prior λ Σ A‖F‖²")
V_PRIOR = Parameter(
    "potential_prior", "float", None, unit="1/kT²", minimum=0.0,
    help="Weight λ of the potential prior λ(½∫‖∇V‖² + ½ℓ²∫(ΔV)²); unset: chosen with smoothing_length "
         "by marginal likelihood (reported in the maps' parameters); 0: none",
)
SMOOTHING_LENGTH = Parameter(
    "smoothing_length", "float", None, unit="µm", minimum=0.0,
    help="Length ℓ of the potential prior's curvature term; unset: chosen by marginal likelihood when "
         "potential_prior is unset, else 0 (TRamWAy's prior)",
)

def _runner(name):
    """The runner of model ``name``; :mod:`.runners` (scipy.optimize...) is imported on first use,
    so that reading the registry (spec validation, forms, CLI help) stays light."""
    def run(ctx):
        from .runners import RUNNERS

        return RUNNERS[name](ctx)

    run.__name__ = f"run_{name}"
    return run


def runner_in(module: str, function: str = "run"):
    """The factory of a model whose code is its own module: ``module.function(ctx) -> Output``
    (a :class:`.runners.Context` in, an :class:`.runners.Output` out), imported on first use.

    A new model is that module plus one ``MODELS.register(RegistryEntry(..., factory=runner_in(...),
    extra={"columns": ..., "uncertainty": ...}))``; its parameters must include ``sigma``,
    ``min_diffusivity`` and ``min_steps`` (:func:`~napari_tramway.core.models.fit` uses them) —
    see ``docs/architecture.md``, "A model"."""
    def run(ctx):
        return getattr(import_module(module), function)(ctx)

    run.__name__ = f"run_{module.rpartition('.')[2]}"
    return run


MODELS = Registry("model")

MODELS.register(RegistryEntry(
    name="d", title="D (diffusivity)",
    help="Diffusivity per cell; closed form without smoothing, joint smoothed fit with diffusivity_prior",
    parameters=(SIGMA, D_PRIOR, JEFFREYS, MIN_D, MAX_ITER, TOLERANCE, RGRAD, ANGLE, MIN_STEPS),
    factory=_runner("d"),
    extra={"columns": ("diffusivity",),
           "uncertainty": ("diffusivity sd", "diffusivity ci low", "diffusivity ci high"),
           "reference": "TRamWAy d / degraded.d / standard.d"},
))
MODELS.register(RegistryEntry(
    name="dd", title="DD (diffusivity and drift)",
    help="Diffusivity and drift per cell; joint fit when a prior is given",
    parameters=(SIGMA, D_PRIOR, DRIFT_PRIOR, JEFFREYS, MIN_D, MAX_ITER, TOLERANCE, RGRAD, ANGLE, MIN_STEPS),
    factory=_runner("dd"),
    extra={"columns": ("diffusivity", "drift x", "drift y"),
           "uncertainty": ("diffusivity sd", "drift x sd", "drift y sd"),
           "reference": "TRamWAy dd / degraded.dd / standard.dd"},
))
MODELS.register(RegistryEntry(
    name="df", title="DF (diffusivity and force)",
    help="Diffusivity and force per cell; joint fit when a prior is given",
    parameters=(SIGMA, D_PRIOR, FORCE_PRIOR, JEFFREYS, MIN_D, MAX_ITER, TOLERANCE, RGRAD, ANGLE, MIN_STEPS),
    factory=_runner("df"),
    extra={"columns": ("diffusivity", "force x", "force y"),
           "uncertainty": ("diffusivity sd", "force x sd", "force y sd"),
           "reference": "TRamWAy df / degraded.df / standard.df"},
))
MODELS.register(RegistryEntry(
    name="dv", title="DV (diffusivity and potential)",
    help="Diffusivity and effective potential, jointly over each connected group of cells; force = −∇V",
    parameters=(SIGMA, D_PRIOR, V_PRIOR, SMOOTHING_LENGTH, JEFFREYS, MIN_D, MAX_ITER, TOLERANCE, RGRAD_DV,
                ANGLE, MIN_STEPS),
    factory=_runner("dv"),
    extra={"columns": ("diffusivity", "potential", "force x", "force y"),
           "uncertainty": ("diffusivity sd", "potential sd", "force x sd", "force y sd"),
           "reference": "TRamWAy dv"},
))
