"""``fit``: registry, validation, σ resolution, statuses, callbacks, isolated and empty cells."""

import numpy as np
import pandas as pd
import pytest
from _mesh_helpers import hexagon_mesh, nearest_assignment, square_mesh

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.errors import ParameterError
from napari_tramway.core.maps import Maps
from napari_tramway.core.meshes.base import Assignment
from napari_tramway.core.models import MODELS, Progress, fit
from napari_tramway.core.simulate import WALK_ACQUISITION, standard_dataset
from napari_tramway.core.trajectories import translocations

ACQ = WALK_ACQUISITION  # the simulation's frame interval (0.02 s) and σ (0.02 µm)

JOINT = [
    ("d", {"diffusivity_prior": 1.0}),
    ("dd", {"diffusivity_prior": 1.0, "drift_prior": 0.01}),
    ("df", {"diffusivity_prior": 1.0, "force_prior": 0.1}),
    ("dv", {"diffusivity_prior": 1.0, "potential_prior": 1.0}),
    ("dv", {"potential_prior": 0.5, "jeffreys_prior": True, "rgrad": "grad1"}),
]
PER_CELL = [("d", {}), ("dd", {}), ("df", {}), ("df", {"jeffreys_prior": True}), ("d", {"jeffreys_prior": True})]


@pytest.fixture(scope="module")
def data():
    loc, fld = standard_dataset(20_000, seed=5)
    steps = translocations(loc)
    mesh = hexagon_mesh((0, 0, 10, 10), 1.5)
    return steps, mesh, nearest_assignment(mesh, steps[["x", "y"]].to_numpy()), fld


def test_registry_describes_every_model():
    assert list(MODELS) == ["d", "dd", "df", "dv"]
    for entry in MODELS.values():
        names = [p.name for p in entry.parameters]
        for common in ("sigma", "diffusivity_prior", "jeffreys_prior", "min_diffusivity", "max_iter", "rgrad"):
            assert common in names
        assert all(p.help for p in entry.parameters)
        assert entry.parameter("sigma").unit == "µm" and entry.parameter("sigma").default is None
        assert "0.03" in entry.parameter("sigma").help
        assert entry.extra["columns"][0] == "diffusivity"
        assert callable(entry.factory)
    assert "drift_prior" in [p.name for p in MODELS["dd"].parameters]
    assert "force_prior" in [p.name for p in MODELS["df"].parameters]
    assert "potential_prior" in [p.name for p in MODELS["dv"].parameters]
    assert MODELS["dv"].extra["columns"] == ("diffusivity", "potential", "force x", "force y")
    assert "| dv | `potential_prior` |" in MODELS.table()


@pytest.mark.parametrize("model,params,field", [
    ("d", {"sigma": -1.0}, "sigma"),
    ("d", {"drift_prior": 1.0}, "drift_prior"),
    ("dv", {"rgrad": "gradn"}, "rgrad"),
    ("dv", {"min_diffusivity": 0.0}, "min_diffusivity"),
    ("df", {"potential_prior": 1.0}, "potential_prior"),
    ("dx", {}, "model"),
])
def test_invalid_parameters_name_the_field(data, model, params, field):
    steps, mesh, a, _ = data
    with pytest.raises(ParameterError) as info:
        fit(model, mesh, a, steps, ACQ, **params)
    assert info.value.field == field


def test_sigma_and_frame_interval_come_typed_from_the_acquisition(data, monkeypatch):
    steps, mesh, a, _ = data
    m = fit("d", mesh, a, steps, ACQ)
    assert m.parameters["sigma"] == 0.02 and m.info["sigma_source"] == "given"
    assert (m.info["frame_interval"], m.info["frame_interval_source"]) == (0.02, "given")
    read = Acquisition(0.02, 0.03, frame_interval_source="estimated", localization_precision_source="default")
    m0 = fit("d", mesh, a, steps, read)
    assert m0.parameters["sigma"] == 0.03 and m0.info["sigma_source"] == "default"
    assert m0.info["frame_interval_source"] == "estimated"
    m1 = fit("d", mesh, a, steps, ACQ, sigma=0.0)
    assert m1.parameters["sigma"] == 0.0 and m1.info["sigma_source"] == "parameter"
    assert np.all(m1["diffusivity"][m1.fitted] > m["diffusivity"][m.fitted])   # less noise → more D
    assert m.parameters["min_diffusivity"] == pytest.approx(1e-8)
    # a spec's validated settings are taken as they are (validated once, where they entered)
    settings = MODELS["d"].settings({"sigma": 0.0})
    monkeypatch.setattr(type(MODELS["d"]), "checked", lambda *a, **k: pytest.fail("validated twice"))
    same = fit(settings, mesh, a, steps, ACQ)
    np.testing.assert_array_equal(same["diffusivity"], m1["diffusivity"])
    assert same.model == "d" and same.info["sigma_source"] == "parameter"
    with pytest.raises(TypeError, match="either validated settings or a model name"):
        fit(settings, mesh, a, steps, ACQ, sigma=0.01)
    # no fallback: the values are given, typed (a table's attrs are not read)
    with pytest.raises(TypeError, match="acquisition: expected an Acquisition"):
        fit("d", mesh, a, steps, {"frame_interval": 0.02, "localization_precision": 0.02})


@pytest.mark.parametrize("model,params", PER_CELL + JOINT)
def test_outputs_complete_and_finite(data, model, params):
    steps, mesh, a, _ = data
    m = fit(model, mesh, a, steps, ACQ, **params)
    assert isinstance(m, Maps) and m.model == model
    assert m.status == "converged", m.message
    assert list(m.table.index) == list(range(mesh.n_cells)) and m.table.index.name == "cell"
    for col in MODELS[model].extra["columns"]:
        assert col in m.table.columns
    assert {"x", "y", "n", "isolated", "incomplete gradient", "diffusivity sd"} <= set(m.table.columns)
    fitted = m.fitted
    assert fitted.sum() > 10 and (~fitted).sum() > 0      # the hexagons overflow the field: some are empty
    values = m.table.loc[fitted, list(m.columns)].to_numpy(float)
    assert not np.isnan(values).any()
    assert np.all(m["diffusivity"][fitted] >= m.parameters["min_diffusivity"])
    assert np.isnan(m.table.loc[~fitted, list(m.columns)].to_numpy(float)).all()
    assert np.all(m["n"][~fitted] == 0)
    assert np.isfinite(m.objective) and m.runtime > 0


def test_dv_potential_min_zero_and_force_is_minus_gradient(data):
    steps, mesh, a, _ = data
    m = fit("dv", mesh, a, steps, ACQ, diffusivity_prior=1.0, potential_prior=1.0)
    v = m["potential"][m.fitted]
    assert v.min() == pytest.approx(0.0, abs=1e-12)
    from napari_tramway.core.models import grad1_operator
    cells = np.flatnonzero(m.fitted)
    g = grad1_operator(mesh.centres[cells], mesh.adjacency[cells][:, cells])
    assert np.allclose(m["force x"][cells], -(g.gx @ v), atol=1e-10)
    assert np.allclose(m["force y"][cells], -(g.gy @ v), atol=1e-10)
    assert np.all(m["potential sd"][cells] > 0)


def test_vanishing_prior_gives_per_cell_estimates(data):
    steps, mesh, a, _ = data
    per_cell = fit("d", mesh, a, steps, ACQ)
    joint = fit("d", mesh, a, steps, ACQ, diffusivity_prior=1e-12, tolerance=1e-8)
    f = per_cell.fitted
    assert np.allclose(joint["diffusivity"][f], per_cell["diffusivity"][f], rtol=1e-5)
    assert np.allclose(joint["diffusivity sd"][f], per_cell["diffusivity sd"][f], rtol=1e-4)
    dd = fit("dd", mesh, a, steps, ACQ)
    ddj = fit("dd", mesh, a, steps, ACQ, drift_prior=1e-12, tolerance=1e-8)
    assert np.allclose(ddj["drift x"][f], dd["drift x"][f], rtol=1e-4, atol=1e-6)


def test_strong_prior_flattens_diffusivity(data):
    steps, mesh, a, _ = data
    weak = fit("d", mesh, a, steps, ACQ)
    strong = fit("d", mesh, a, steps, ACQ, diffusivity_prior=1e6)
    f = weak.fitted
    assert np.std(strong["diffusivity"][f]) < 0.05 * np.std(weak["diffusivity"][f])


def test_progress_called_every_iteration(data):
    steps, mesh, a, _ = data
    calls = []
    m = fit("dv", mesh, a, steps, ACQ, diffusivity_prior=1.0, potential_prior=1.0, progress=calls.append)
    assert all(isinstance(c, Progress) for c in calls)
    iterations = [c.iteration for c in calls if c.stage == "optimize"]
    assert iterations == list(range(1, m.iterations + 1))
    fractions = [c.fraction for c in calls]
    assert fractions == sorted(fractions) and calls[0].stage == "statistics" and calls[-1].stage == "done"
    assert calls[-1].fraction == 1.0
    per_cell = []
    fit("d", mesh, a, steps, ACQ, progress=per_cell.append)
    assert [c.stage for c in per_cell] == ["statistics", "done"]


@pytest.mark.parametrize("model,params", [JOINT[0], JOINT[3]])
def test_cancel_returns_last_iterate(data, model, params):
    steps, mesh, a, _ = data
    polls = []

    def cancel():
        polls.append(1)
        return len(polls) >= 3

    m = fit(model, mesh, a, steps, ACQ, cancel=cancel, **params)
    assert m.status == "interrupted"
    assert m.iterations == 2      # polled once before starting, then after each iteration
    reference = fit(model, mesh, a, steps, ACQ, max_iter=2, **params)
    assert reference.status == "max_iter"
    for col in MODELS[model].extra["columns"]:
        assert np.allclose(m[col][m.fitted], reference[col][m.fitted], equal_nan=True)
    assert not np.isnan(m.table.loc[m.fitted, list(m.columns)].to_numpy(float)).any()
    early = fit(model, mesh, a, steps, ACQ, cancel=lambda: True, **params)
    assert early.status == "interrupted"


def test_keyboard_interrupt_returns_last_iterate(data):
    steps, mesh, a, _ = data
    seen = []

    def progress(p):
        if p.stage == "optimize":
            seen.append(p.iteration)
            if p.iteration == 2:
                raise KeyboardInterrupt

    m = fit("dv", mesh, a, steps, ACQ, diffusivity_prior=1.0, potential_prior=1.0, progress=progress)
    assert m.status == "interrupted" and m.iterations == 2 and "KeyboardInterrupt" in m.message


def _isolated_setup():
    """A 5×4 grid with steps in a block of cells and in one far cell whose neighbours are all empty."""
    mesh = square_mesh(5, 4, 1.0)
    rng = np.random.default_rng(0)
    block = [0, 1, 2, 5, 6, 7, 10, 11, 12]
    lonely = 19
    frames = []
    for c in block + [lonely]:
        n = 60
        cx, cy = mesh.centres[c]
        frames.append(pd.DataFrame({"x": cx + rng.uniform(-0.4, 0.4, n), "y": cy + rng.uniform(-0.4, 0.4, n),
                                    "dx": rng.normal(0, 0.05, n), "dy": rng.normal(0, 0.05, n), "dt": 0.02}))
    steps = pd.concat(frames, ignore_index=True)
    return mesh, nearest_assignment(mesh, steps[["x", "y"]].to_numpy()), steps, block, lonely


@pytest.mark.parametrize("model,params", JOINT[:4])
def test_isolated_cells_kept_and_flagged(model, params):
    mesh, a, steps, block, lonely = _isolated_setup()
    m = fit(model, mesh, a, steps, ACQ, **params)
    assert m.table.loc[lonely, "isolated"]
    assert not m.table.loc[block, "isolated"].any()
    assert np.isfinite(m["diffusivity"][lonely]) and np.isfinite(m["diffusivity sd"][lonely])
    if model == "dv":
        assert np.isnan(m["potential"][lonely]) and np.isnan(m["force x"][lonely])
        assert np.all(np.isfinite(m["potential"][block]))
        assert m["potential"][block].min() == 0.0
    # the isolated cell's D is its own estimate without smoothing (dv: no drift there, so the D model's)
    unsmoothed = {k: v for k, v in params.items() if k not in ("diffusivity_prior", "potential_prior")}
    own = fit("d" if model == "dv" else model, mesh, a, steps, ACQ, **unsmoothed)
    assert m["diffusivity"][lonely] == pytest.approx(own["diffusivity"][lonely], rel=1e-4)


def test_two_components_each_shifted_to_zero():
    mesh = square_mesh(6, 2, 1.0)
    rng = np.random.default_rng(1)
    frames = []
    for c in [0, 1, 6, 7, 4, 5, 10, 11]:       # two 2×2 blocks separated by an empty column
        cx, cy = mesh.centres[c]
        frames.append(pd.DataFrame({"x": cx + rng.uniform(-0.4, 0.4, 80), "y": cy + rng.uniform(-0.4, 0.4, 80),
                                    "dx": rng.normal(0.01 * c, 0.05, 80), "dy": rng.normal(0, 0.05, 80), "dt": 0.02}))
    steps = pd.concat(frames, ignore_index=True)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    m = fit("dv", mesh, a, steps, ACQ, potential_prior=1.0, sigma=0.02)
    assert m.status == "converged"
    assert m["potential"][[0, 1, 6, 7]].min() == 0.0 and m["potential"][[4, 5, 10, 11]].min() == 0.0
    assert np.all(np.isfinite(m["potential sd"][[0, 1, 6, 7, 4, 5, 10, 11]]))


def test_incomplete_gradient_flag_no_nan():
    # three cells stacked vertically: no neighbour on either side of x -> x row zero, flagged
    mesh = square_mesh(1, 3, 1.0)
    rng = np.random.default_rng(2)
    steps = pd.DataFrame({"x": 0.5 + rng.uniform(-0.4, 0.4, 300), "y": rng.uniform(0, 3, 300),
                          "dx": rng.normal(0, 0.05, 300), "dy": rng.normal(0.02, 0.05, 300), "dt": 0.02})
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    m = fit("dv", mesh, a, steps, ACQ, potential_prior=1.0, diffusivity_prior=1.0, sigma=0.02)
    assert m.table["incomplete gradient"].all()
    assert np.all(m["force x"] == 0.0)
    assert not np.isnan(m.table[list(m.columns)].to_numpy(float)).any()


def test_no_steps_gives_empty_maps():
    mesh = square_mesh(2, 2)
    steps = pd.DataFrame({"dx": [0.1], "dy": [0.1], "dt": [0.02]})
    m = fit("dv", mesh, Assignment(np.zeros(0, np.int64), np.zeros(0, np.int64), 4), steps, ACQ)
    assert m.status == "empty"
    assert np.isnan(m["diffusivity"]).all() and "potential" in m.table


def test_assignment_mesh_mismatch(data):
    steps, mesh, a, _ = data
    with pytest.raises(ValueError, match="cells"):
        fit("d", square_mesh(2, 2), a, steps, ACQ)


@pytest.mark.parametrize("model,params", [JOINT[2], JOINT[3]])
def test_default_tolerance_is_close_to_the_exact_optimum(data, model, params):
    steps, mesh, a, _ = data
    m = fit(model, mesh, a, steps, ACQ, **params)
    tight = fit(model, mesh, a, steps, ACQ, tolerance=1e-10, max_iter=20000, **params)
    assert tight.objective <= m.objective + 1e-9
    assert m.objective - tight.objective < 1e-5
    f = m.fitted
    for col in MODELS[model].extra["columns"]:
        sd = tight[col + " sd"][f] if col + " sd" in tight.table else tight["diffusivity sd"][f]
        assert np.max(np.abs(m[col][f] - tight[col][f]) / sd) < 1e-3


@pytest.mark.parametrize("model, params", [
    ("d", {"diffusivity_prior": 1.0}),
    ("dv", {"diffusivity_prior": 1.0, "potential_prior": 1.0, "rgrad": "grad1"}),
    ("dv", {"diffusivity_prior": 1.0, "potential_prior": 1.0}),
])
def test_gradient_and_smoothing_matrix_are_built_once_per_fit(data, monkeypatch, model, params):
    import napari_tramway.core.models.runners as fitting

    steps, mesh, a, _ = data
    calls = {"grad1": 0, "penalty": 0}

    def counted(name, f):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return f(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(fitting, "grad1_operator", counted("grad1", fitting.grad1_operator))
    monkeypatch.setattr(fitting, "penalty_matrix", counted("penalty", fitting.penalty_matrix))
    maps = fit(model, mesh, a, steps, ACQ, max_iter=5, **params)
    assert maps.status in ("converged", "max_iter")
    assert calls == {"grad1": 1, "penalty": 1}
