"""Our models on a :class:`~.scenarios.Case`, timed, one BLAS thread (as the pipeline runs them)."""

from __future__ import annotations

import time

from threadpoolctl import threadpool_limits

from napari_tramway.core.models import fit


def run(case, model: str, *, uncorrected_filter: bool = False, **parameters):
    """``(maps, seconds)`` of ``fit(model, ...)`` on the case's steps (σ known: the case's).

    ``uncorrected_filter`` hides the static filter's threshold from the model (the behaviour before
    the likelihood accounted for it), to show the bias it caused.
    """
    steps = case.steps
    if uncorrected_filter:
        steps = steps.copy()
        steps.attrs = {k: v for k, v in case.steps.attrs.items() if k != "min_squared_step"}
    parameters.setdefault("sigma", case.sigma)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        maps = fit(model, case.mesh, case.assignment, steps, **parameters)
        seconds = time.perf_counter() - t0
    return maps, seconds
