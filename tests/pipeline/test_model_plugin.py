"""A model is one module plus its registry entry: this test file is that module.

``msd`` estimates D in each cell from the mean squared step, D = (Σ‖Δr‖²/n − 4σ²)/(4 Δt̄), with
σ and Δt from the steps' :class:`~napari_tramway.core.acquisition.Acquisition`. Registered with
``factory=runner_in(__name__)``, it is validated by the spec, offered by the command line, listed
in the docs table and run by the façade, with no other change anywhere (docs/architecture.md,
"A model").
"""

import numpy as np
import pytest

from napari_tramway import Analysis
from napari_tramway.core.models import MODELS
from napari_tramway.core.models.registry import MIN_D, MIN_STEPS, SIGMA, runner_in
from napari_tramway.core.models.runners import Output
from napari_tramway.core.parameters import Parameter, RegistryEntry
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec, SpecError

SCALE = Parameter("scale", "float", 1.0, "A factor on D (to show a parameter of the new model).", minimum=0.0,
                  exclusive_minimum=True)


def run(ctx) -> Output:
    """Per fitted cell: the moment estimate of D (µm²/s), at least ``min_diffusivity``."""
    lik, k = ctx.lik, ctx.cells.size
    n = np.bincount(lik.pos, lik.count, minlength=k)
    q = np.bincount(lik.pos, lik.sq, minlength=k)
    t = np.bincount(lik.pos, lik.count * lik.tau, minlength=k)
    d = (q - 4 * ctx.params["sigma"] ** 2 * n) / (4 * t)
    return Output({"diffusivity": ctx.params["scale"] * np.maximum(d, ctx.lower)}, message="moment estimate",
                  info={"solver": "mean squared step"})


@pytest.fixture
def msd():
    entry = MODELS.register(RegistryEntry(
        "msd", "MSD (diffusivity from the mean squared step)", "D per cell from the mean squared step",
        (SIGMA, SCALE, MIN_D, MIN_STEPS), factory=runner_in(__name__),
        extra={"columns": ("diffusivity",), "uncertainty": ()}))
    try:
        yield entry
    finally:
        MODELS.unregister("msd")


def test_a_registered_model_runs_through_the_facade(tmp_path, three_files, msd):
    spec = AnalysisSpec(files=[DataFile(str(three_files[0]), frame_interval=0.02, localization_precision=0.02)],
                        mesh=MeshSpec("hexagon", {"resolution": 2.5}), model=ModelSpec("msd", {"scale": 2.0}))
    # the spec validates the new model's parameters with its own description
    assert spec.model.parameters["scale"] == 2.0 and spec.model.parameters.entry is msd
    with pytest.raises(SpecError) as err:
        ModelSpec("msd", {"scale": 0, "diffusivity_prior": 1.0})
    assert sorted(p for p, _ in err.value.problems) == ["model.parameters.diffusivity_prior",
                                                        "model.parameters.scale"]
    back = AnalysisSpec.load(spec.save(tmp_path / "spec.json"))
    assert back.model == spec.model
    # run by the façade, next to a built-in model on the same data
    analysis = Analysis(back, store=tmp_path / "msd")
    assert analysis.run(env="inprocess").ok
    (unit,) = analysis.units()
    maps, meta = analysis.results().unit(unit.label)
    assert maps.model == "msd" and maps.info["solver"] == "mean squared step" and maps.parameters["sigma"] == 0.02
    back.model = ModelSpec("d")
    reference = Analysis(back, store=tmp_path / "d")
    assert reference.run(env="inprocess").ok
    d = reference.results().maps(unit.label)["diffusivity"]
    fitted = maps.fitted & np.isfinite(d)
    # the moment estimate is the D model's closed form when Δt is constant: twice it, with scale 2
    np.testing.assert_allclose(maps["diffusivity"][fitted], 2.0 * d[fitted], rtol=1e-6)
    # the command line offers it, and the docs table of the registry lists its parameters
    from napari_tramway.cli import main

    assert main(["analyze", str(three_files[0]), "--model", "msd", "--scale", "1.5", "--mesh", "hexagon",
                 "--resolution", "2.5", "--frame-interval", "0.02", "-o", str(tmp_path / "cli")]) == 0
    assert "| `scale` | msd | float | 1.0 |" in MODELS.parameter_table()
