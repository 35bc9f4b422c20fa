"""Our models on a :class:`~.scenarios.Case`, timed, one BLAS thread (as the pipeline runs them)."""

from __future__ import annotations

import time
from dataclasses import replace

from threadpoolctl import threadpool_limits

from napari_tramway.core.models import fit


def run(case, model: str, *, uncorrected_filter: bool = False, **parameters):
    """``(maps, seconds)`` of ``fit(model, ...)`` on the case's steps and acquisition (Δt, σ known: the
    simulation's).

    ``uncorrected_filter`` hides the static filter's threshold from the model (the behaviour before
    the likelihood accounted for it), to show the bias it caused.
    """
    acquisition = case.acquisition
    if uncorrected_filter:
        acquisition = replace(acquisition, min_squared_step=0.0)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        maps = fit(model, case.mesh, case.assignment, case.steps, acquisition, **parameters)
        seconds = time.perf_counter() - t0
    return maps, seconds
