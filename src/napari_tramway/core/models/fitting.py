"""``fit``: from a mesh, an assignment and a steps table to :class:`~napari_tramway.core.maps.Maps`.

``fit`` validates the parameters through :data:`.registry.MODELS` (or takes a spec's validated
``Settings`` as they are), builds the sufficient statistics and the likelihood once, and hands a
:class:`.runners.Context` to the model's runner.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.errors import ParameterError
from napari_tramway.core.maps import COLUMN_ORDER, Maps
from napari_tramway.core.parameters import Settings

from .likelihood import CellLikelihood
from .operators import safe_areas
from .registry import MODELS
from .runners import Context, Output
from .statistics import step_statistics

#: D lower bound (µm²/s) when ``min_diffusivity`` is unset (TRamWAy lets D go negative, §9.2).
DEFAULT_MIN_DIFFUSIVITY = 1e-8


@dataclass(frozen=True)
class Progress:
    """What a ``progress`` callback receives.

    Attributes
    ----------
    model : str
    stage : str
        ``'statistics'`` (start), ``'priors'`` (DV's default priors: after each fit of the
        search), ``'optimize'`` (after each optimizer iteration), ``'uncertainty'``, ``'done'``.
    fraction : float
        Estimated completion in [0, 1] (for iterations: from the decrease of the gradient towards
        the tolerance; monotone enough for a progress bar, 1.0 only at ``'done'``).
    iteration : int
        Optimizer iterations so far (0 for closed forms).
    max_iter : int or None
    objective : float or None
        Current objective value.
    """

    model: str
    stage: str
    fraction: float
    iteration: int = 0
    max_iter: int | None = None
    objective: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# -- the entry point ---------------------------------------------------------------------------

def fit(model: str | Settings, mesh, assignment, steps: pd.DataFrame, acquisition: Acquisition, *, progress=None,
        cancel=None, **parameters) -> Maps:
    """Fit ``model`` (``'d'``, ``'dd'``, ``'df'`` or ``'dv'``) on the steps of each mesh cell.

    Parameters
    ----------
    model : str or Settings
        A name of :data:`MODELS` (its ``parameters`` are then validated here), or the model's
        validated :class:`~napari_tramway.core.parameters.Settings` (a spec's ``model.parameters``:
        taken as they are, no keyword parameters).
    mesh : Mesh
        Cell centres, neighbour graph and areas.
    assignment : Assignment
        Pairs (row of ``steps`` by position, cell); a step may be in several cells.
    steps : DataFrame
        Translocations with columns ``dx``, ``dy`` (µm) and ``dt`` (s).
    acquisition : Acquisition
        The steps' frame interval (s, the unit of the Δt groups), σ (µm; the model's ``sigma``
        parameter, when set, replaces it) and static filter threshold ``min_squared_step`` (µm²,
        set by :func:`~napari_tramway.core.trajectories.discard_static`: only steps with
        dx² + dy² above it were kept, and the likelihood accounts for it).
    progress : callable, optional
        ``progress(Progress)``: at the start, after every optimizer iteration, and at the end.
    cancel : callable, optional
        ``cancel() -> bool``, polled once per optimizer iteration; True stops the fit, which
        returns its last iterate with ``status == 'interrupted'``.
    **parameters
        The model's parameters (see ``MODELS[model].parameters``); validated, unknown names refused.

    Returns
    -------
    Maps
    """
    t0 = time.perf_counter()
    if not isinstance(acquisition, Acquisition):
        raise TypeError(f"acquisition: expected an Acquisition(frame_interval, localization_precision), got "
                        f"{type(acquisition).__name__}")
    if isinstance(model, Settings):  # validated where they entered (a spec): taken as they are
        if parameters:
            raise TypeError("fit: pass either validated settings or a model name and its parameters")
        entry, params, model = model.entry, dict(model), model.name
    else:
        if model not in MODELS:
            raise ParameterError("model", f"unknown model {model!r}; known: {', '.join(MODELS)}")
        entry = MODELS[model]
        if model == "df" and "potential_prior" in parameters:
            raise ParameterError("potential_prior", "not a df parameter (TRamWAy's alias of force_prior is not "
                                                    "accepted, to keep one name per setting): use force_prior")
        params = entry.validate(parameters)
    if params.get("sigma") is not None:
        sigma, sigma_source = float(params["sigma"]), "parameter"
    else:
        sigma, sigma_source = acquisition.localization_precision, acquisition.localization_precision_source
    lower = params["min_diffusivity"] if params["min_diffusivity"] is not None else DEFAULT_MIN_DIFFUSIVITY
    params["sigma"] = sigma
    params["min_diffusivity"] = lower
    u0 = acquisition.min_squared_step
    if int(assignment.n_cells) != mesh.n_cells:
        raise ValueError(f"assignment is for {assignment.n_cells} cells, mesh has {mesh.n_cells}")

    def report(stage, fraction, iteration=0, max_iter=None, objective=None):
        if progress is not None:
            progress(Progress(model, stage, float(fraction), int(iteration), max_iter,
                              None if objective is None else float(objective)))

    report("statistics", 0.0)
    stats = step_statistics(assignment, steps, acquisition.frame_interval)
    cells = np.flatnonzero(stats.n > 0)
    k_all = mesh.n_cells
    info = {"sigma_source": sigma_source, "frame_interval": acquisition.frame_interval,
            "frame_interval_source": acquisition.frame_interval_source,
            "dt_groups": int(stats.n_entries), "steps": int(stats.n.sum()), "steps_dropped": stats.n_dropped,
            "steps_reversed": stats.n_flipped, "fitted_cells": int(cells.size),
            "static_filter": {"min_squared_step": u0} if u0 > 0 else None}
    table = pd.DataFrame({"x": mesh.centres[:, 0].astype(float), "y": mesh.centres[:, 1].astype(float),
                          "n": stats.n.astype(np.int64)}, index=pd.Index(np.arange(k_all), name="cell"))
    columns = entry.extra["columns"]

    def finish(out: Output | None, status, iterations=0, objective=math.nan, message=""):
        full = {name: np.full(k_all, np.nan) for name in columns}
        if out is not None:
            for name, values in out.columns.items():
                arr = np.full(k_all, np.nan)
                arr[cells] = values
                full[name] = arr
        iso = np.zeros(k_all, bool)
        iso[cells] = isolated
        full["isolated"] = iso
        inc = np.zeros(k_all, bool)
        if out is not None and out.incomplete is not None:
            inc[cells] = out.incomplete
        full["incomplete gradient"] = inc
        full["few steps"] = (stats.n > 0) & (stats.n < params["min_steps"])
        for name in COLUMN_ORDER:
            if name in full:
                table[name] = full[name]
        for name in full:
            if name not in table.columns:
                table[name] = full[name]
        if out is not None and out.info:
            info.update(out.info)
        report("done", 1.0, iterations, params.get("max_iter"), objective if math.isfinite(objective) else None)
        return Maps(mesh=mesh, table=table, model=model, parameters=params, status=status, iterations=iterations,
                    runtime=time.perf_counter() - t0, objective=objective, message=message, info=info)

    adjacency = sp.csr_matrix(mesh.adjacency)[cells][:, cells]
    adjacency = sp.csr_matrix(adjacency.astype(bool))
    adjacency.setdiag(False)
    adjacency.eliminate_zeros()
    isolated = np.asarray(adjacency.sum(axis=1)).ravel() == 0
    if cells.size == 0:
        return finish(None, "empty", message="no step in any cell")
    if cancel is not None and cancel():
        return finish(None, "interrupted", message="cancelled before start")
    lik = CellLikelihood(stats, cells, sigma, u0)
    ctx = Context(model, mesh, params, lik, cells, adjacency, isolated, safe_areas(mesh.areas[cells], cells.size),
                   lower, report, cancel)
    out = entry.factory(ctx)
    return finish(out, out.status, out.iterations, out.objective, out.message)
