"""grad1 / delta0 operators against the reference formulas (tramway-reference §4.9)."""

import numpy as np
import pytest
import scipy.sparse as sp
from _mesh_helpers import hexagon_mesh, square_mesh

from napari_tramway.core.models import delta0_operator, grad1_operator, penalty_matrix


def _star(centre, neighbours):
    pts = np.vstack([centre, neighbours])
    k = len(pts)
    rows = np.r_[np.zeros(k - 1, int), np.arange(1, k)]
    cols = np.r_[np.arange(1, k), np.zeros(k - 1, int)]
    return pts, sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(k, k))


def _reference_component(pts, values, axis, angle=0.9):
    """grad1 of cell 0 along ``axis``, straight from the reference's description."""
    xi, xs = pts[0], pts[1:]
    u = (xs - xi) / np.linalg.norm(xs - xi, axis=1)[:, None]
    a = 1 - 2 * np.arccos(u[:, axis]) / np.pi
    up, dn = a > 1 - angle, a < angle - 1
    b = xi[axis]
    if up.any() and dn.any():
        aa, cc = xs[dn, axis].mean(), xs[up, axis].mean()
        xa, xc = values[1:][dn].mean(), values[1:][up].mean()
        return (xa * (b - cc) / ((aa - b) * (aa - cc)) + values[0] * (2 * b - aa - cc) / ((b - aa) * (b - cc))
                + xc * (b - aa) / ((cc - aa) * (cc - b)))
    if up.any():
        return (values[0] - values[1:][up].mean()) / (b - xs[up, axis].mean())
    if dn.any():
        return (values[0] - values[1:][dn].mean()) / (b - xs[dn, axis].mean())
    return np.nan


def test_grad1_matches_quadratic_through_three_points():
    # irregular neighbourhood: two neighbours above x, one below, one above y, two below y
    pts, adj = _star([0.3, -0.2], [[1.4, 0.1], [1.0, -0.9], [-0.9, 0.2], [0.2, 1.1], [-0.3, -1.3], [0.6, -1.5]])
    rng = np.random.default_rng(1)
    values = rng.normal(size=len(pts))
    g = grad1_operator(pts, adj)
    for axis, m in enumerate((g.gx, g.gy)):
        expected = _reference_component(pts, values, axis)
        assert (m @ values)[0] == pytest.approx(expected, rel=1e-12)
    assert not g.missing[0].any()
    assert not g.one_sided[0].any()


def test_grad1_quadratic_is_exact_when_sides_are_aligned():
    # neighbours straight left/right and up/down: the derivative of a quadratic is exact
    pts, adj = _star([0.0, 0.0], [[1.0, 0.0], [-0.5, 0.0], [0.0, 2.0], [0.0, -1.0]])
    x, y = pts[:, 0], pts[:, 1]
    values = 3 * x**2 - 2 * x + 0.5 * y**2 + 4 * y
    g = grad1_operator(pts, adj)
    assert (g.gx @ values)[0] == pytest.approx(-2.0, abs=1e-12)
    assert (g.gy @ values)[0] == pytest.approx(4.0, abs=1e-12)


def test_grad1_one_sided_and_missing_axis():
    # only a neighbour above in y (straight up): x has no side at all -> zero row + flag, no NaN
    pts, adj = _star([0.0, 0.0], [[0.0, 1.0]])
    values = np.array([1.0, 3.0])
    g = grad1_operator(pts, adj)
    grad = g.apply(values)
    assert np.all(np.isfinite(grad))
    assert grad[0, 0] == 0.0 and g.missing[0, 0]
    assert grad[0, 1] == pytest.approx(2.0) and g.one_sided[0, 1] and not g.missing[0, 1]
    assert g.gx[0].nnz == 0


def test_grad1_selection_angle():
    # a neighbour at 70° from +x counts on the x axis with s = 0.9 (81° cone), not with s = 0.5 (45°)
    ang = np.radians(70)
    pts, adj = _star([0.0, 0.0], [[np.cos(ang), np.sin(ang)]])
    assert not grad1_operator(pts, adj, 0.9).missing[0, 0]
    assert grad1_operator(pts, adj, 0.5).missing[0, 0]


@pytest.mark.parametrize("mesh", [square_mesh(6, 5, 0.8), hexagon_mesh((0, 0, 6, 5), 1.0)], ids=["square", "hexagon"])
def test_grad1_exact_on_linear_fields(mesh):
    g = grad1_operator(mesh.centres, mesh.adjacency)
    x, y = mesh.centres.T
    # a field of x only: exact in every cell, boundary included (sides are averaged along x only)
    gx = g.gx @ (2.5 * x - 1)
    assert np.allclose(gx, 2.5, atol=1e-12)
    # a general linear field: exact wherever both sides exist on both axes (symmetric neighbourhoods)
    v = 2.5 * x - 1.5 * y + 0.3
    both = ~g.one_sided.any(axis=1) & ~g.missing.any(axis=1)
    assert both.sum() >= 6
    assert np.allclose((g.gx @ v)[both], 2.5, atol=1e-12)
    assert np.allclose((g.gy @ v)[both], -1.5, atol=1e-12)
    assert not g.missing.any()


def test_delta0_matches_definition():
    mesh = hexagon_mesh((0, 0, 4, 3), 1.0)
    rng = np.random.default_rng(2)
    areas = rng.uniform(0.5, 1.5, mesh.n_cells)
    values = rng.normal(size=mesh.n_cells)
    e = delta0_operator(mesh.centres, mesh.adjacency, areas)
    expected = 0.0
    for i in range(mesh.n_cells):
        nb = mesh.neighbours(i)
        d = np.linalg.norm(mesh.centres[nb] - mesh.centres[i], axis=1)
        expected += areas[i] * np.mean(((values[nb] - values[i]) / d) ** 2)
    assert np.sum((e @ values) ** 2) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind", ["grad1", "delta0"])
def test_penalty_matrix(kind):
    mesh = hexagon_mesh((0, 0, 4, 3), 1.0)
    areas = np.linspace(0.5, 1.5, mesh.n_cells)
    areas[0] = 0.0   # a zero area counts as 1 (reference)
    p = penalty_matrix(kind, mesh.centres, mesh.adjacency, areas)
    assert abs(p - p.T).max() < 1e-12
    assert np.allclose(p @ np.ones(mesh.n_cells), 0, atol=1e-12)      # constants are not penalised
    rng = np.random.default_rng(3)
    v = rng.normal(size=mesh.n_cells)
    a = areas.copy()
    a[0] = 1.0
    if kind == "grad1":
        g = grad1_operator(mesh.centres, mesh.adjacency)
        expected = np.sum(a * ((g.gx @ v) ** 2 + (g.gy @ v) ** 2))
    else:
        expected = np.sum((delta0_operator(mesh.centres, mesh.adjacency, a) @ v) ** 2)
    assert v @ (p @ v) == pytest.approx(expected, rel=1e-12)
    assert np.linalg.eigvalsh(p.toarray()).min() > -1e-10
