"""Meshes: registry, sizing, geometry, assignment, rasters, time windows, persistence."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from napari_tramway.core.errors import ArchiveError, ParameterError
from napari_tramway.core.meshes import (
    MESHES,
    Assignment,
    SlidingWindows,
    assign,
    assign_in_time,
    build_mesh,
    load_mesh,
    nearest_cells,
    pixel_centres,
    rasterize,
    save_mesh,
)
from napari_tramway.core.meshes.time import TimeAssignment, TimeMesh, segment_label
from napari_tramway.core.roi import Ellipse, Polygon, Rectangle, SupportRegion

METHODS = ["grid", "hexagon", "kmeans", "gwr", "kdtree"]
L_SHAPE = Polygon(np.array([[1, 1], [9, 1], [9, 4], [4, 4], [4, 9], [1, 9]], float))  # non-convex, area 39


@pytest.fixture(scope="module")
def uniform():
    return np.random.default_rng(0).uniform(0, 10, (6000, 2))


def _kw(method, resolution=1.0):
    kw = {"resolution": resolution}
    if method == "hexagon":
        kw["tilt"] = 0.3
    return kw


# -- registry -------------------------------------------------------------------------------------

def test_registry_entries_and_parameter_names():
    assert list(MESHES) == METHODS
    for name in METHODS:
        entry = MESHES[name]
        names = {p.name for p in entry.parameters}
        assert {"resolution", "ref_distance", "min_location_count", "knn", "radius"} <= names
        assert ("avg_location_count" in names) == (name != "kdtree")
        assert entry.factory is not None and entry.help and entry.title
        for p in entry.parameters:
            assert p.help and "\n" not in p.help
    assert "tilt" in {p.name for p in MESHES["hexagon"].parameters}
    assert {"prune", "seed"} <= {p.name for p in MESHES["kmeans"].parameters}
    assert {"prune", "seed"} <= {p.name for p in MESHES["gwr"].parameters}
    assert {"min_count", "max_count", "max_level"} <= {p.name for p in MESHES["kdtree"].parameters}
    assert MESHES["grid"].parameter("knn").type == "int_pair"
    table = MESHES.table()
    assert "| hexagon | `tilt` |" in table


@pytest.mark.parametrize("kwargs, field", [
    ({"resolution": -1.0}, "resolution"),
    ({"resolution": "abc"}, "resolution"),
    ({"bogus": 1}, "bogus"),
    ({"knn": (5, 2)}, "knn"),
    ({"knn": 0}, "knn"),
    ({"resolution": 1.0, "avg_location_count": 50}, "avg_location_count"),
    ({"resolution": 1.0, "ref_distance": 0.3}, "ref_distance"),
    ({"min_location_count": -1}, "min_location_count"),
])
def test_bad_parameters_name_the_field(uniform, kwargs, field):
    with pytest.raises(ParameterError) as exc:
        build_mesh("grid", uniform, **kwargs)
    assert exc.value.field == field


def test_bad_method_and_method_specific_fields(uniform):
    with pytest.raises(ParameterError) as exc:
        build_mesh("voronoi", uniform, resolution=1.0)
    assert exc.value.field == "method"
    with pytest.raises(ParameterError) as exc:
        build_mesh("hexagon", uniform, resolution=1.0, tilt=5)
    assert exc.value.field == "tilt"
    with pytest.raises(ParameterError) as exc:
        build_mesh("grid", uniform, resolution=1.0, tilt=0.5)  # not a grid parameter
    assert exc.value.field == "tilt"
    with pytest.raises(ParameterError) as exc:  # GWR needs a length scale
        build_mesh("gwr", uniform)
    assert exc.value.field == "ref_distance"
    mesh = build_mesh("grid", uniform, resolution=1.0)
    with pytest.raises(ParameterError) as exc:
        assign(mesh, uniform, knn=(3, 1))
    assert exc.value.field == "knn"


def test_factory_is_build_mesh(uniform):
    a = MESHES["grid"].factory(uniform, resolution=2.0)
    b = build_mesh("grid", uniform, resolution=2.0)
    np.testing.assert_array_equal(a.centres, b.centres)


# -- sizing -------------------------------------------------------------------------------------

def test_reference_sizing_defaults(uniform):
    steps = np.random.default_rng(1).normal(0, 0.1, (len(uniform), 2))
    mean_len = float(np.hypot(*steps.T).mean())
    mesh = build_mesh("grid", uniform, steps=steps)
    p = mesh.parameters
    assert p["sizing"] == "count" and p["avg_location_count"] == 80
    assert p["ref_distance"] == pytest.approx(mean_len)
    assert p["avg_distance"] == pytest.approx(2 * mean_len)
    assert p["min_distance"] == pytest.approx(0.8 * mean_len)
    mesh = build_mesh("grid", uniform, min_location_count=10)
    assert mesh.parameters["avg_location_count"] == 40  # 4 × min_location_count
    mesh = build_mesh("grid", uniform, resolution=0.5)
    assert mesh.parameters["ref_distance"] == 0.25 and mesh.parameters["sizing"] == "resolution"


def test_grid_cell_counts_follow_sizing():
    region = Rectangle(0, 0, 10, 6)
    pts = np.random.default_rng(2).uniform([0, 0], [10, 6], (12000, 2))
    assert build_mesh("grid", pts, region=region, resolution=1.0).n_cells == 60
    assert build_mesh("grid", pts, region=region, resolution=0.5).n_cells == 240
    m = build_mesh("grid", pts, region=region, resolution=0.5)
    np.testing.assert_allclose(m.areas, 0.25)
    k = build_mesh("grid", pts, region=region, avg_location_count=100).n_cells
    assert 0.8 * 120 <= k <= 1.2 * 120
    # count mode never goes below min_distance = 0.8 ref_distance
    k = build_mesh("grid", pts, region=region, avg_location_count=1, ref_distance=0.5).n_cells
    assert k == round(10 / 0.4) * round(6 / 0.4)


def test_hexagon_counts_tilt_and_area(uniform):
    region = Rectangle(0, 0, 10, 10)
    for res in (1.0, 0.5):
        for tilt in (0.0, 0.5, 1.0):
            m = build_mesh("hexagon", uniform, region=region, resolution=res, tilt=tilt)
            expected = 100 / (np.sqrt(3) / 2 * res ** 2)
            assert 0.9 * expected <= m.n_cells <= 1.25 * expected
            full = np.isclose(m.areas, 2 * np.sqrt(3) * (res / 2) ** 2)
            assert full.sum() > 0.6 * m.n_cells
            d = np.hypot(*(m.centres[m.adjacency.tocoo().row] - m.centres[m.adjacency.tocoo().col]).T)
            np.testing.assert_allclose(d, res)  # neighbours are resolution apart
            deg = np.diff(m.adjacency.indptr)
            assert deg.max() == 6 and (deg[full] == 6).mean() > 0.7
    m = build_mesh("hexagon", uniform, region=region, avg_location_count=60)
    assert 0.8 * 100 <= m.n_cells <= 1.25 * 100


def test_kmeans_counts_and_convergence(uniform):
    g = build_mesh("grid", uniform, resolution=1.0)
    k = build_mesh("kmeans", uniform, resolution=1.0)
    assert k.n_cells <= g.n_cells and k.n_cells >= 0.9 * g.n_cells
    assert k.parameters["kmeans_converged"]
    # centres are the means of their Voronoi cells (Lloyd fixed point)
    a = assign(k, uniform)
    means = np.column_stack([np.bincount(a.cell, w, k.n_cells) for w in uniform[a.point].T]) / a.counts()[:, None]
    np.testing.assert_allclose(means, k.centres, atol=2e-3)
    kc = build_mesh("kmeans", uniform, avg_location_count=120)
    assert 0.8 * 50 <= kc.n_cells <= 1.2 * 50


def test_kmeans_drops_empty_clusters():
    pts = np.random.default_rng(3).normal(0, 0.2, (300, 2))
    pts = np.vstack([pts, pts + 8])  # two blobs, empty space between
    m = build_mesh("kmeans", pts, resolution=0.5)
    a = assign(m, pts)
    assert (a.counts() > 0).all()


def test_gwr_counts_follow_sizing(uniform):
    k1 = build_mesh("gwr", uniform, resolution=1.0).n_cells
    k2 = build_mesh("gwr", uniform, resolution=0.5).n_cells
    assert 2.5 <= k2 / k1 <= 6
    # count mode with a density-driven radius (clip bounds moved out of the way)
    c1 = build_mesh("gwr", uniform, avg_location_count=40, ref_distance=0.01, max_distance=20).n_cells
    c2 = build_mesh("gwr", uniform, avg_location_count=160, ref_distance=0.01, max_distance=20).n_cells
    assert 2.5 <= c1 / c2 <= 6


def test_gwr_node_density_follows_data_density():
    rng = np.random.default_rng(4)
    dense = rng.uniform([0, 0], [5, 10], (8000, 2))
    sparse = rng.uniform([5, 0], [10, 10], (1000, 2))
    pts = np.vstack([dense, sparse])
    m = build_mesh("gwr", pts, avg_location_count=40, ref_distance=0.01, max_distance=20)
    left = (m.centres[:, 0] < 5).sum()
    right = (m.centres[:, 0] >= 5).sum()
    assert left > 3 * right


def test_gwr_seed_reproducible(uniform):
    a = build_mesh("gwr", uniform, resolution=1.0, seed=7)
    b = build_mesh("gwr", uniform, resolution=1.0, seed=7)
    c = build_mesh("gwr", uniform, resolution=1.0, seed=8)
    np.testing.assert_array_equal(a.centres, b.centres)
    assert (a.adjacency != b.adjacency).nnz == 0
    assert a.centres.shape != c.centres.shape or not np.array_equal(a.centres, c.centres)


def test_kdtree_split_rules():
    rng = np.random.default_rng(5)
    pts = np.vstack([rng.normal(3, 0.3, (4000, 2)), rng.uniform(0, 10, (2000, 2))])
    m = build_mesh("kdtree", pts, resolution=0.3, min_count=20)
    e = m.extra
    a = assign(m, pts)
    counts = a.counts()
    lev = e["kd_leaf"][:, 0]
    side = float(e["kd_side"]) / 2.0 ** lev
    assert (side >= 0.3 - 1e-12).all()
    # boxes are smaller where the data are dense
    dense = np.hypot(*(m.centres - 3).T) < 0.5
    assert side[dense].mean() < side[~dense].mean() / 3
    # a leaf with more than min_count points is at the deepest level, or splitting it would
    # violate the rule (no child above max_count and not all children above min_count)
    loc_leaf = e["kd_leaf"]
    max_count = int(e["kd_max_count"])
    for i in np.flatnonzero(counts > 20):
        if lev[i] == int(e["kd_levels"]):
            continue
        sel = pts[a.point[a.cell == i]]
        x0 = float(e["kd_origin"][0]) + loc_leaf[i, 1] * side[i]
        y0 = float(e["kd_origin"][1]) + loc_leaf[i, 2] * side[i]
        qx = sel[:, 0] >= x0 + side[i] / 2
        qy = sel[:, 1] >= y0 + side[i] / 2
        kids = np.bincount(qx * 2 + qy, minlength=4)
        assert not ((kids > max_count).any() or (kids > 20).all())
    more = build_mesh("kdtree", pts, resolution=0.3, min_count=10).n_cells
    assert more > m.n_cells


# -- geometry, neighbours, assignment ---------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("region", [None, Rectangle(0.5, 0.5, 9.5, 8.0), L_SHAPE], ids=["none", "rect", "L"])
def test_geometry_neighbours_and_voronoi_assignment(uniform, method, region):
    mesh = build_mesh(method, uniform, region=region, **_kw(method, 0.8))
    adj = mesh.adjacency
    assert (adj != adj.T).nnz == 0 and adj.diagonal().sum() == 0
    assert len(mesh.polygons) == mesh.n_cells == len(mesh.areas)
    expected = np.prod(np.ptp(uniform, axis=0)) if region is None else region.area
    assert mesh.areas.sum() == pytest.approx(expected, rel=1e-9)
    assert (mesh.areas > 0).all()
    a = assign(mesh, uniform, region=region)
    inside = np.ones(len(uniform), bool) if region is None else region.contains(uniform)
    assert set(a.point.tolist()) == set(np.flatnonzero(inside).tolist())
    assert (np.diff(a.cell) >= 0).all()
    p, c = uniform[a.point], a.cell
    if method == "kdtree":
        half = np.sqrt(mesh.areas.max())  # boxes: Chebyshev distance ≤ half side
        lev = mesh.extra["kd_leaf"][c, 0]
        hs = float(mesh.extra["kd_side"]) / 2.0 ** lev / 2
        assert (np.abs(p - mesh.centres[c]).max(axis=1) <= hs * (1 + 1e-12)).all() and half > 0
    else:
        d_near, _ = cKDTree(mesh.centres).query(p)
        d_cell = np.hypot(*(p - mesh.centres[c]).T)
        assert (d_cell <= d_near + 1e-9).all()
    # each point lies in its cell's (clipped) polygon
    for i in np.unique(c)[:40]:
        inside_poly = Polygon(mesh.polygons[i]).contains(p[c == i]) if mesh.areas[i] > 1e-9 else None
        if inside_poly is not None:
            assert inside_poly.mean() > 0.99


def test_grid_neighbourhoods(uniform):
    m = build_mesh("grid", uniform, region=Rectangle(0, 0, 10, 10), resolution=1.0)
    deg8 = np.diff(m.adjacency.indptr)
    deg4 = np.diff(m.extra["face_adjacency_indptr"])
    lat = m.extra["lattice_index"]
    interior = (lat > 0).all(axis=1) & (lat < 9).all(axis=1)
    assert (deg8[interior] == 8).all() and (deg4[interior] == 4).all()
    corner = (lat == 0).all(axis=1)
    assert deg8[corner].tolist() == [3] and deg4[corner].tolist() == [2]


def test_region_bounds_come_from_the_region_not_the_data():
    pts = np.random.default_rng(6).uniform(2, 4, (500, 2))
    m = build_mesh("grid", pts, region=Rectangle(0, 0, 10, 10), resolution=1.0)
    assert m.n_cells == 100 and tuple(m.bounds) == (0, 0, 10, 10)
    m = build_mesh("grid", pts, resolution=1.0)
    assert m.n_cells == 4 and m.bounds[0] == pytest.approx(pts[:, 0].min())


def test_prune_compares_lengths(uniform):
    m0 = build_mesh("kmeans", uniform, resolution=1.0)
    m = build_mesh("kmeans", uniform, resolution=1.0, prune=1.2)
    coo = m0.adjacency.tocoo()
    length = np.hypot(*(m0.centres[coo.row] - m0.centres[coo.col]).T)
    keep = length <= 1.2 * np.median(length)
    assert m.adjacency.nnz == keep.sum() < m0.adjacency.nnz
    np.testing.assert_array_equal(m.centres, m0.centres)


def test_min_location_count_drops_cells():
    rng = np.random.default_rng(7)
    pts = np.vstack([rng.uniform(0, 5, (2000, 2)), rng.uniform(5, 10, (60, 2))])
    m = build_mesh("grid", pts, region=Rectangle(0, 0, 10, 10), resolution=2.5)
    base = assign(m, pts).counts()
    a = assign(m, pts, min_location_count=50)
    counts = a.counts()
    assert ((counts == 0) == (base < 50)).all() and (base < 50).any()
    assert a.point.size == base[base >= 50].sum()


def test_knn_reference_cases():
    pts = np.random.default_rng(8).normal(0, 1, (50, 2))
    m = build_mesh("kmeans", pts, resolution=0.3)
    a = assign(m, pts, knn=10)
    assert set(a.point.tolist()) == set(range(50))
    assert (a.counts() >= 10).all()
    b = assign(m, pts, knn=(10, None))
    np.testing.assert_array_equal(a.point, b.point)
    np.testing.assert_array_equal(a.cell, b.cell)
    # own points are kept and the added ones are the nearest to the centre
    base = nearest_cells(m, pts)
    for c in range(m.n_cells):
        mine = set(np.flatnonzero(base == c).tolist())
        got = set(a.point[a.cell == c].tolist())
        assert mine <= got and len(got) == max(10, len(mine))
        if len(mine) < 10:
            d = np.hypot(*(pts - m.centres[c]).T)
            extra = got - mine
            others = np.setdiff1d(np.arange(50), list(got))
            assert max(d[list(extra)]) <= min(d[others]) + 1e-12


def test_knn_max_and_empty_cells_stay_empty():
    rng = np.random.default_rng(9)
    pts = rng.uniform(0, 4, (400, 2))
    m = build_mesh("grid", pts, region=Rectangle(0, 0, 8, 8), resolution=2.0)  # right/top cells empty
    base = assign(m, pts).counts()
    a = assign(m, pts, knn=(5, 30))
    counts = a.counts()
    assert (counts[base == 0] == 0).all()  # quirk §9.11 fixed
    assert (counts[base > 0] == 30).all()
    for c in np.flatnonzero(base > 0):
        d = np.hypot(*(pts - m.centres[c]).T)
        mine = np.flatnonzero(nearest_cells(m, pts) == c)
        kept = a.point[a.cell == c]
        dropped = np.setdiff1d(mine, kept)
        assert d[kept].max() <= d[dropped].min()


def test_knn_with_fewer_points_than_min():
    pts = np.random.default_rng(10).uniform(0, 1, (6, 2))
    m = build_mesh("grid", pts, resolution=0.5)
    a = assign(m, pts, knn=20)
    for c in np.flatnonzero(assign(m, pts).counts() > 0):
        assert sorted(a.point[a.cell == c].tolist()) == list(range(6))


def test_radius_compares_distances_not_squares():
    pts = np.random.default_rng(11).uniform(0, 4, (3000, 2))
    m = build_mesh("grid", pts, region=Rectangle(0, 0, 4, 4), resolution=1.0)
    a = assign(m, pts, radius=0.7)
    d = np.hypot(*(pts[a.point] - m.centres[a.cell]).T)
    assert d.max() <= 0.7
    for c in range(m.n_cells):
        within = np.flatnonzero(np.hypot(*(pts - m.centres[c]).T) <= 0.7)
        assert set(a.point[a.cell == c].tolist()) == set(within.tolist())


def test_region_argument_forms(uniform):
    m = build_mesh("kmeans", uniform, region=L_SHAPE, resolution=1.0)
    outside = np.array([[8.0, 8.0], [20.0, 20.0]])
    assert (nearest_cells(m, outside) == -1).all()  # default: the mesh's own region
    assert (nearest_cells(m, outside, region=L_SHAPE) == -1).all()
    assert (nearest_cells(m, outside, region=False) >= 0).all()  # pure nearest centre


# -- rasters ----------------------------------------------------------------------------------------

def _check_raster(mesh, origin, p, shape, region):
    r = rasterize(mesh, origin=origin, pixel_size=p, shape=shape, region=region)
    assert r.dtype == np.int32 and r.shape == shape
    xs, ys = pixel_centres(origin, p, shape)
    jj, ii = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]))
    xy = np.column_stack([xs[jj.ravel()], ys[ii.ravel()]])
    ref = nearest_cells(mesh, xy, region=region).reshape(shape)
    np.testing.assert_array_equal(r, ref)
    return r


@pytest.mark.parametrize("method", METHODS)
def test_raster_matches_assignment_pixel_by_pixel(uniform, method):
    rng = np.random.default_rng(12)
    for region in (None, Rectangle(0.5, 0.5, 9.5, 8.0), L_SHAPE, Ellipse((5, 5), (4, 3), 30)):
        mesh = build_mesh(method, uniform, region=region, **_kw(method, 1.0))
        # fine pixels (block path), beyond the region on every side, random origin
        origin = tuple(rng.uniform(-1.5, -0.5, 2))
        p = rng.uniform(0.011, 0.014)
        r = _check_raster(mesh, origin, p, (int(12 / p), int(11.5 / p)), region)
        assert (r == -1).any() and (r >= 0).any()
        # coarse pixels (one by one), anisotropic
        _check_raster(mesh, (rng.uniform(-1, 0), rng.uniform(-1, 0)), (0.23, 0.17), (53, 71), region)


def test_raster_support_region_union(uniform):
    region = SupportRegion([Rectangle(1, 1, 4, 4), Ellipse((6, 6), (2, 1.5), 0)], (0, 1), "roi000-001")
    mesh = build_mesh("hexagon", uniform, region=region, resolution=0.7)
    _check_raster(mesh, (0.0, 0.0), 0.01, (1000, 1000), region)


def test_raster_speed_4096(uniform):
    import time

    mesh = build_mesh("kmeans", uniform, resolution=1.0)
    t = time.perf_counter()
    r = rasterize(mesh, origin=(0, 0), pixel_size=10 / 4096, shape=(4096, 4096))
    assert time.perf_counter() - t < 5.0
    assert (r >= 0).mean() > 0.99


# -- time windows --------------------------------------------------------------------------------

def test_sliding_window_segments_and_labels():
    t = np.round(np.arange(0.05, 90.05 + 1e-9, 0.1), 10)
    w = SlidingWindows(30)
    seg = w.segments(t)
    assert w.segment_labels(t) == ["t=0.05-30.05s", "t=30.05-60.05s", "t=60.05-90.05s"]
    assert seg.shape == (3, 2) and seg[0, 0] == 0.05
    masks = w.segment_masks(t)
    assert masks.sum(axis=0).min() == 1  # every time in exactly one window, t_max included
    ref = SlidingWindows(30, extend_last=False)
    assert ref.segment_masks(t).sum(axis=0).min() == 0  # TRamWAy drops t_max
    assert ref.segment_labels(t) == w.segment_labels(t)
    # n_seg = max(1, round((t_max − t0 − duration)/shift) + 1)
    w2 = SlidingWindows(20, shift=10)
    assert len(w2.segments(t)) == round((90.05 - 0.05 - 20) / 10) + 1
    assert len(SlidingWindows(200).segments(t)) == 1
    assert segment_label(0, 12.5) == "t=0-12.5s"
    # frames: durations in frames, with the data's frame interval (no estimate of its own)
    wf = SlidingWindows(300, frames=True)
    np.testing.assert_allclose(wf.segments(t, frame_interval=0.1), seg)
    with pytest.raises(ParameterError, match="^frame_interval: windows counted in frames need"):
        wf.segments(t)
    np.testing.assert_allclose(SlidingWindows(3000, frames=True).segments(t, frame_interval=0.01), seg)
    with pytest.raises(ParameterError):
        SlidingWindows(0)
    # rounded count: the last window is stretched to t_max, nothing is dropped
    t3 = np.linspace(0, 100, 1001)
    w3 = SlidingWindows(30, shift=30)
    s3 = w3.segments(t3)
    assert len(s3) == 3 and s3[-1, 1] > 100
    assert sum(len(i) for i in w3.segment_points(t3)) == len(t3)


def test_assign_in_time(uniform):
    rng = np.random.default_rng(13)
    t = np.sort(rng.uniform(0, 60, len(uniform)))
    mesh = build_mesh("hexagon", uniform, resolution=1.5)
    w = SlidingWindows(20, shift=10)
    ta = assign_in_time(mesh, uniform, t, w, min_location_count=5)
    assert ta.n_segments == len(w.segments(t)) and ta.labels == w.segment_labels(t)
    seg = ta.segments
    for s, a in enumerate(ta.assignments):
        assert ((t[a.point] >= seg[s, 0]) & (t[a.point] < seg[s, 1])).all()
        sel = np.flatnonzero((t >= seg[s, 0]) & (t < seg[s, 1]))
        ref = assign(mesh, uniform[sel], min_location_count=5)
        np.testing.assert_array_equal(sel[ref.point], a.point)
        np.testing.assert_array_equal(ref.cell, a.cell)
    flat = ta.flat()
    k = mesh.n_cells
    assert flat.n_cells == k * ta.n_segments
    assert flat.point.size == sum(a.point.size for a in ta.assignments)
    np.testing.assert_array_equal(flat.cell // k, np.repeat(np.arange(ta.n_segments), [a.point.size for a in ta.assignments]))
    back = TimeAssignment.from_arrays(ta.to_arrays())
    for a, b in zip(ta.assignments, back.assignments):
        np.testing.assert_array_equal(a.point, b.point)
    tm = TimeMesh(mesh, seg)
    adj = tm.adjacency()
    assert adj.shape == (tm.n_cells, tm.n_cells) and (adj != adj.T).nnz == 0
    assert adj[0, k] and adj[k, 2 * k] and not adj[0, 2 * k]
    assert tm.adjacency(time_links=False).nnz == mesh.adjacency.nnz * ta.n_segments


# -- persistence -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_save_load_round_trip(tmp_path, uniform, method):
    mesh = build_mesh(method, uniform, region=L_SHAPE, knn=(3, 50), **_kw(method, 1.0))
    a = assign(mesh, uniform, knn=(3, 50))
    path = save_mesh(tmp_path / "m.ntw", mesh, a, meta={"note": "x"})
    m2, a2 = load_mesh(path)
    assert m2.method == mesh.method and m2.parameters == mesh.parameters
    np.testing.assert_array_equal(m2.centres, mesh.centres)
    assert (m2.adjacency != mesh.adjacency).nnz == 0
    np.testing.assert_array_equal(m2.areas, mesh.areas)
    for p, q in zip(m2.polygons, mesh.polygons):
        np.testing.assert_array_equal(p, q)
    assert m2.extra.keys() == mesh.extra.keys()
    for key in mesh.extra:
        np.testing.assert_array_equal(m2.extra[key], mesh.extra[key])
    np.testing.assert_array_equal(a2.point, a.point)
    np.testing.assert_array_equal(a2.cell, a.cell)
    # the loaded mesh locates points and rasterises exactly as the original
    np.testing.assert_array_equal(nearest_cells(m2, uniform), nearest_cells(mesh, uniform))
    m3, none = load_mesh(save_mesh(tmp_path / "n.ntw", mesh))
    assert none is None and m3.n_cells == mesh.n_cells


def test_load_rejects_foreign_and_corrupt(tmp_path, uniform):
    from napari_tramway.core.archive import write_archive

    write_archive(tmp_path / "x.ntw", "napari-tramway/other", 1, {"a": np.zeros(2)})
    with pytest.raises(ArchiveError):
        load_mesh(tmp_path / "x.ntw")
    mesh = build_mesh("grid", uniform, resolution=1.0)
    path = save_mesh(tmp_path / "m.ntw", mesh)
    with pytest.raises(ArchiveError):
        load_mesh(path, fmt="napari-tramway/tessellation")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArchiveError):
        load_mesh(path)


def test_assignment_from_cell_index_consistent(uniform):
    mesh = build_mesh("grid", uniform, resolution=1.0)
    a = assign(mesh, uniform)
    b = Assignment.from_cell_index(nearest_cells(mesh, uniform), mesh.n_cells)
    np.testing.assert_array_equal(a.point, b.point)
    np.testing.assert_array_equal(a.cell, b.cell)


def test_threads_setting_does_not_change_results(uniform):
    from napari_tramway.core.meshes.threads import get_threads, threads

    a = build_mesh("gwr", uniform, resolution=1.0, seed=3)
    with threads(1):
        assert get_threads() == 1
        b = build_mesh("gwr", uniform, resolution=1.0, seed=3)
        nb = nearest_cells(b, uniform)
    assert get_threads() != 1 or a is not None
    np.testing.assert_array_equal(a.centres, b.centres)
    np.testing.assert_array_equal(nearest_cells(a, uniform), nb)
    with pytest.raises(ValueError):
        with threads(0):
            pass


@pytest.mark.parametrize("method", ["grid", "hexagon"])
def test_count_sizing_in_a_non_rectangular_region(uniform, method):
    region = Ellipse((5, 5), (4.5, 3), 20)
    n_in = int(region.contains(uniform).sum())
    mesh = build_mesh(method, uniform, region=region, avg_location_count=50)
    assert 0.85 * n_in / 50 <= mesh.n_cells <= 1.15 * n_in / 50


def test_binned_nearest_centre_is_exact():
    from napari_tramway.core.meshes.locate import locator_for

    rng = np.random.default_rng(14)
    pts = np.vstack([rng.uniform(0, 10, (60000, 2)), np.round(rng.uniform(0, 10, (30000, 2)), 2)])
    pts[:10] = [np.nan, 1.0]
    for method in ("kmeans", "gwr"):
        mesh = build_mesh(method, pts[10:6000], resolution=0.7)
        loc = locator_for(mesh)
        np.testing.assert_array_equal(loc.cells_binned(pts), loc.cells(pts))
        a = assign(mesh, pts, region=False)
        d_near, _ = cKDTree(mesh.centres).query(pts[a.point])
        assert (np.hypot(*(pts[a.point] - mesh.centres[a.cell]).T) <= d_near + 1e-12).all()
        assert a.point.size == len(pts) - 10


def test_radius_then_knn_fills_small_balls_with_the_nearest_steps():
    pts = np.random.default_rng(12).uniform(0, 4, (400, 2))
    m = build_mesh("grid", pts, region=Rectangle(0, 0, 4, 4), resolution=1.0)
    balls = assign(m, pts, radius=0.3)
    a = assign(m, pts, radius=0.3, knn=(12, None))
    for c in range(m.n_cells):
        own = set(balls.point[balls.cell == c].tolist())
        got = set(a.point[a.cell == c].tolist())
        if not own:
            assert not got
            continue
        assert own <= got and len(got) == max(12, len(own))
        d = np.hypot(*(pts - m.centres[c]).T)
        others = np.setdiff1d(np.arange(len(pts)), list(got))
        assert d[list(got - own)].max(initial=0) <= d[others].min() + 1e-12
