"""Benchmark of the ROI geometry: points in polygons, overlap grouping, cropping.

Compares, on the same inputs and with the same answers checked:

* ``former``: the hand-written even-odd test and pairwise edge intersection that ``core/roi.py``
  held before it used shapely (copied below as the reference);
* ``skimage``: scikit-image's ``measure.points_in_poly`` (exact on edges, no tolerance band),
  on every point and after the same bounding-box selection as ours;
* ``shapely``: :mod:`napari_tramway.core.roi.polygons` (shapely 2: the polygon grown by the
  rounding tolerance, ``intersects_xy`` after a bounding-box selection; ``STRtree`` for pairs).

Cases: 1M uniform points in 20 polygons of 4 to 128 vertices (stars and regular polygons) on a
50×50 µm field; grouping 400 ROIs (ellipses, polygons, rectangles); cropping 1M locations
(10,000 trajectories) to 5 polygons. Wall-clock, best of 3.

    python benchmarks/geometry.py [--points 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# -- the former hand-written geometry of core/roi.py (reference only) -------------------------

def former_contains(poly, xy, tol=None, sort_above=16):
    poly = np.asarray(poly, dtype=float).reshape(-1, 2)
    xy = np.asarray(xy, dtype=float)
    out = np.zeros(len(xy), dtype=bool)
    if len(xy) == 0 or len(poly) < 3:
        return out
    if tol is None:
        tol = 1e-12 * max(1.0, float(np.abs(poly).max()))
    (xmin, ymin), (xmax, ymax) = poly.min(axis=0), poly.max(axis=0)
    x, y = xy[:, 0], xy[:, 1]
    sel = np.flatnonzero((x >= xmin - tol) & (x <= xmax + tol) & (y >= ymin - tol) & (y <= ymax + tol))
    if sel.size == 0:
        return out
    by_y = len(poly) > sort_above
    if by_y:
        sel = sel[np.argsort(y[sel], kind="stable")]
    xs, ys = x[sel], y[sel]
    inside = np.zeros(sel.size, dtype=bool)
    on = np.zeros(sel.size, dtype=bool)
    i0, i1 = 0, sel.size
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        lo, hi = (y1, y2) if y1 <= y2 else (y2, y1)
        if by_y:
            i0 = int(np.searchsorted(ys, lo - tol, side="left"))
            i1 = int(np.searchsorted(ys, hi + tol, side="right"))
            if i1 <= i0:
                continue
        yy, xx = ys[i0:i1], xs[i0:i1]
        if y1 != y2:
            xc = x1 + (yy - y1) * (x2 - x1) / (y2 - y1)
            inside[i0:i1] ^= (lo <= yy) & (yy < hi) & (xx < xc)
        ex, ey = x2 - x1, y2 - y1
        ll = ex * ex + ey * ey
        px, py = xx - x1, yy - y1
        t = np.clip((px * ex + py * ey) / ll, 0.0, 1.0) if ll > 0 else 0.0
        dx, dy = px - t * ex, py - t * ey
        on[i0:i1] |= dx * dx + dy * dy <= tol * tol
    out[sel] = inside | on
    return out


def former_edges_meet(pa, pb):
    a1, a2 = pa, np.roll(pa, -1, axis=0)
    b1, b2 = pb[None], np.roll(pb, -1, axis=0)[None]

    def orient(p, q, r):
        v = (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        return np.where(np.abs(v) < 1e-15, 0.0, np.sign(v))

    def on_segment(p, q, r):
        return ((np.minimum(p[..., 0], r[..., 0]) <= q[..., 0]) & (q[..., 0] <= np.maximum(p[..., 0], r[..., 0]))
                & (np.minimum(p[..., 1], r[..., 1]) <= q[..., 1]) & (q[..., 1] <= np.maximum(p[..., 1], r[..., 1])))

    step = max(1, (1 << 18) // max(len(pb), 1))
    for i in range(0, len(pa), step):
        p1, p2 = a1[i: i + step, None], a2[i: i + step, None]
        o1, o2 = orient(p1, p2, b1), orient(p1, p2, b2)
        o3, o4 = orient(b1, b2, p1), orient(b1, b2, p2)
        meet = (o1 != o2) & (o3 != o4)
        meet |= (o1 == 0) & on_segment(p1, b1, p2)
        meet |= (o2 == 0) & on_segment(p1, b2, p2)
        meet |= (o3 == 0) & on_segment(b1, p1, b2)
        meet |= (o4 == 0) & on_segment(b1, p2, b2)
        if meet.any():
            return True
    return False


def former_overlaps(a, b):
    ba, bb = a.bounds, b.bounds
    if ba[0] > bb[2] or bb[0] > ba[2] or ba[1] > bb[3] or bb[1] > ba[3]:
        return False
    pa, pb = a.polygon(), b.polygon()
    if former_contains(pa, pb[:1]).any() or former_contains(pb, pa[:1]).any():
        return True
    return former_edges_meet(pa, pb)


def former_groups(rois):
    parent = list(range(len(rois)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(rois)):
        for j in range(i + 1, len(rois)):
            if find(i) != find(j) and former_overlaps(rois[i], rois[j]):
                parent[find(j)] = find(i)
    groups = {}
    for i in range(len(rois)):
        groups.setdefault(find(i), []).append(i)
    return sorted(tuple(sorted(m)) for m in groups.values())


# -- cases ---------------------------------------------------------------------------------------

def best(f, repeat=3):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t0)
    return min(times), result


def polygons(rng, count=20):
    from napari_tramway.core.roi import Polygon

    out = []
    for k in range(count):
        n = (4, 6, 12, 40, 128)[k % 5]
        th = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = np.where(np.arange(n) % 2, 2.0, 4.0) if n > 6 else np.full(n, 3.0)
        c = rng.uniform(5, 45, 2)
        out.append(Polygon(np.column_stack([c[0] + r * np.cos(th), c[1] + r * np.sin(th)])).vertices)
    return out


def points_in_polygons(n_points):
    import shapely
    from skimage.measure import points_in_poly

    from napari_tramway.core.roi import ClosedPolygon

    rng = np.random.default_rng(0)
    polys = polygons(rng)
    pts = rng.uniform(0, 50, (n_points, 2))

    def boxed(f):
        def run(p):
            x, y = pts[:, 0], pts[:, 1]
            (x0, y0), (x1, y1) = p.min(axis=0), p.max(axis=0)
            sel = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            out = np.zeros(len(pts), bool)
            out[sel] = f(pts[sel], p)
            return out
        return run

    cases = {
        "former (hand-written even-odd)": lambda: [former_contains(p, pts) for p in polys],
        "skimage points_in_poly": lambda: [points_in_poly(pts, p) for p in polys],
        "skimage + bounding box": lambda: [boxed(points_in_poly)(p) for p in polys],
        "shapely (core.roi.polygons)": lambda: [ClosedPolygon(p).contains(pts) for p in polys],
    }
    print(f"\n{n_points:,} points in {len(polys)} polygons (4 to 128 vertices); shapely {shapely.__version__}")
    timed = {name: best(f) for name, f in cases.items()}
    base, ref = timed["former (hand-written even-odd)"]
    for name, (t, res) in timed.items():
        diff = sum(int((a != b).sum()) for a, b in zip(ref, res))
        print(f"  {name:32s} {t:7.3f} s   ratio {t / base:5.2f}   points answered differently: {diff}")
    # points on the edges, computed in floating point
    on = [np.concatenate([p + f * (np.roll(p, -1, axis=0) - p) for f in (0.1, 0.5, 0.9)]) for p in polys]
    for name, f in (("former", lambda p, q: former_contains(p, q)), ("skimage", lambda p, q: points_in_poly(q, p)),
                    ("shapely", lambda p, q: ClosedPolygon(p).contains(q))):
        frac = np.mean(np.concatenate([f(p, q) for p, q in zip(polys, on)]))
        print(f"  edge points found inside, {name:8s}: {100 * frac:5.1f} %")


def grouping(n_rois=400):
    from napari_tramway.core.roi import Ellipse, Polygon, Rectangle, group_overlapping

    rng = np.random.default_rng(1)
    rois = []
    for k in range(n_rois):
        c = rng.uniform(0, 200, 2)
        if k % 3 == 0:
            rois.append(Ellipse(tuple(c), tuple(rng.uniform(0.5, 3, 2)), rng.uniform(0, 180)))
        elif k % 3 == 1:
            rois.append(Polygon(c + rng.uniform(-3, 3, (5, 2))))
        else:
            rois.append(Rectangle(c[0], c[1], c[0] + rng.uniform(0.5, 4), c[1] + rng.uniform(0.5, 4)))
    t_old, old = best(lambda: former_groups(rois), repeat=1)
    t_new, new = best(lambda: sorted(r.members for r in group_overlapping(rois)), repeat=1)
    print(f"\ngrouping {n_rois} ROIs: former {t_old:.3f} s, shapely {t_new:.3f} s (ratio {t_new / t_old:.2f}); "
          f"{len(new)} regions, same groups: {old == new}")


def cropping(n_points):
    import pandas as pd

    from napari_tramway.core.roi import Polygon, crop
    from napari_tramway.core.trajectories import translocations

    rng = np.random.default_rng(2)
    per = 100
    n_traj = max(1, n_points // per)
    n = np.repeat(np.arange(1, n_traj + 1), per)
    walk = pd.DataFrame(rng.normal(0, 0.05, (len(n), 2)), columns=["x", "y"]).groupby(n).cumsum().to_numpy()
    xy = rng.uniform(0, 50, (n_traj, 2))[n - 1] + walk
    df = pd.DataFrame({"n": n, "x": xy[:, 0], "y": xy[:, 1], "t": np.tile(np.arange(per) * 0.02, n_traj)})
    polys = [Polygon(p) for p in polygons(rng, 5)]

    def former():
        return [translocations(df, inside=former_contains(p.vertices, df[["x", "y"]].to_numpy())) for p in polys]

    t_old, old = best(former)
    t_new, new = best(lambda: [crop(df, p) for p in polys])
    same = all(a.equals(b) for a, b in zip(old, new))
    print(f"\ncropping {len(df):,} locations to 5 polygons: former {t_old:.3f} s, shapely {t_new:.3f} s "
          f"(ratio {t_new / t_old:.2f}); same steps: {same}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    points_in_polygons(args.points)
    grouping()
    cropping(args.points)


if __name__ == "__main__":
    main()
