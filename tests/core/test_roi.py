import json

import numpy as np
import pandas as pd
import pytest

from napari_tramway.core.errors import RoiFormatError
from napari_tramway.core.roi import (
    Ellipse,
    FullRegion,
    Polygon,
    Rectangle,
    crop,
    group_overlapping,
    read_rois,
    roi_from_dict,
    write_rois,
)


def test_shapes_contain_exactly_not_by_bounding_box():
    tri = Polygon([[0, 0], [2, 0], [0, 2]])
    assert tri.contains([[0.5, 0.5], [1.5, 1.5], [1, 1], [0, 0]]).tolist() == [True, False, True, True]
    ell = Ellipse((0, 0), (2, 1), angle=0)
    assert ell.contains([[1.9, 0], [1.9, 0.9], [0, 1]]).tolist() == [True, False, True]
    rot = Ellipse((0, 0), (2, 1), angle=90)
    assert rot.contains([[0, 1.9], [1.9, 0]]).tolist() == [True, False]
    assert ell.area == pytest.approx(2 * np.pi)
    assert abs(Polygon(ell.polygon()).area - ell.area) / ell.area < 1e-3


def test_ellipse_from_napari_corners():
    corners = np.array([[-2, -1], [2, -1], [2, 1], [-2, 1]], dtype=float)
    e = Ellipse.from_corners(corners)
    assert e.centre == (0, 0) and e.radii == pytest.approx((2, 1)) and e.angle == pytest.approx(0)


def test_polygon_orientation_normalised_and_validated():
    cw = Polygon([[0, 0], [0, 1], [1, 1], [1, 0]])
    assert cw.area == pytest.approx(1)
    with pytest.raises(ValueError):
        Polygon([[0, 0], [1, 1]])
    with pytest.raises(ValueError):
        Rectangle(1, 0, 0, 1)


def test_grouping_reference_example():
    # tramway-reference §2.4: squares of side .2 at (.2,-.1), (-.3,.3), (0,.1), (-.2,0)
    centres = [(0.2, -0.1), (-0.3, 0.3), (0.0, 0.1), (-0.2, 0.0)]
    rois = [Rectangle(x - 0.1, y - 0.1, x + 0.1, y + 0.1) for x, y in centres]
    regions = group_overlapping(rois)
    assert [r.label for r in regions] == ["roi000-002-003", "roi001"]
    assert regions[0].members == (0, 2, 3)
    np.testing.assert_allclose(regions[0].bounds, (-0.3, -0.2, 0.3, 0.2))
    assert [r.label for r in group_overlapping(rois, group=False)] == ["roi000", "roi001", "roi002", "roi003"]


def test_grouping_uses_exact_shapes():
    # two triangles whose bounding boxes overlap but the shapes do not
    a = Polygon([[0, 0], [1, 0], [0, 1]])
    b = Polygon([[1, 1], [0.6, 1], [1, 0.6]])
    assert not a.overlaps(b)
    assert len(group_overlapping([a, b])) == 2
    c = Ellipse((0.3, 0.3), (0.2, 0.2))
    assert a.overlaps(c)


def test_crop_polygon_and_group_union():
    df = pd.DataFrame({"n": [1, 1, 1, 1], "x": [0.1, 0.9, 0.1, 0.2], "y": [0.1, 0.9, 0.2, 0.1], "t": [0, 1, 2, 3]})
    tri = Polygon([[0, 0], [1, 0], [0, 1]])
    out = crop(df, tri)
    # (0.9, 0.9) is in the triangle's bounding box but not in the triangle
    assert out["x"].tolist() == [0.1, 0.1] and out["n"].tolist() == [1, 2]
    full = crop(df, FullRegion())
    assert len(full) == 3


def test_roi_time_range():
    df = pd.DataFrame({"n": [1, 1, 1, 1], "x": 0.5, "y": 0.5, "t": [0, 1, 2, 3]})
    out = crop(df, Rectangle(0, 0, 1, 1, time=(1, 2)))
    assert out["t"].tolist() == [1.0, 2.0]


def test_tramway_roi_files_round_trip(tmp_path):
    rois = [Rectangle(0, 0, 1, 2), Rectangle(1.5, 1.5, 3, 3)]
    p = write_rois(tmp_path / "data-roi.txt", rois)
    text = p.read_text().splitlines()
    assert text[0] == "x min\ty min\tx max\ty max"
    back = read_rois(p)
    assert [r.bounds for r in back] == [r.bounds for r in rois]
    centres = tmp_path / "centres.txt"
    centres.write_text("x\ty\n1\t1\n2\t3\n")
    with pytest.raises(RoiFormatError, match="size"):
        read_rois(centres)
    sq = read_rois(centres, size=0.5)
    assert sq[1].bounds == (1.75, 2.75, 2.25, 3.25)


def test_json_roi_file_holds_every_shape(tmp_path):
    rois = [Rectangle(0, 0, 1, 1, name="a"), Polygon([[0, 0], [2, 0], [1, 1]]), Ellipse((1, 1), (1, 0.5), 30, time=(0, 5))]
    p = write_rois(tmp_path / "rois.json", rois)
    back = read_rois(p)
    assert [r.kind for r in back] == ["rectangle", "polygon", "ellipse"]
    assert back[0].name == "a" and back[2].time == (0, 5) and back[2].angle == 30
    with pytest.raises(RoiFormatError, match="rectangles only"):
        write_rois(tmp_path / "x.txt", rois)


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "empty"),
        ("x min\ty min\tx max\ty max\n0\t0\tabc\t1\n", "line 2, column 'x max'"),
        ("x min\ty min\tx max\ty max\n0\t0\t1\n", "line 2"),
        ("a\tb\n1\t2\n", "neither"),
        ("x min\ty min\tx max\ty max\n", "no ROI"),
        ("x min\ty min\tx max\ty max\n1\t0\t0\t1\n", "line 2"),
        ('{"format": "napari-tramway/rois", "version": 1, "rois": [{"kind": "circle"}]}', r"rois\[0\]\.kind"),
        ('{"format": "other"}', "format"),
        ("{bad json", "line 1"),
    ],
)
def test_bad_roi_files_name_file_and_place(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    p.write_text(content)
    with pytest.raises(RoiFormatError, match=match) as err:
        read_rois(p)
    assert str(p) in str(err.value)


def test_binary_and_missing_roi_files(tmp_path):
    p = tmp_path / "img.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(RoiFormatError, match="binary"):
        read_rois(p)
    with pytest.raises(RoiFormatError, match="no such"):
        read_rois(tmp_path / "missing.txt")


def test_roi_dict_round_trip():
    e = Ellipse((1, 2), (3, 1), 45)
    assert roi_from_dict(json.loads(json.dumps(e.to_dict()))) == e


@pytest.mark.parametrize("n_vertices", [5, 40])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_polygon_test_counts_edges_and_vertices_inside_whatever_the_vertex_count(n_vertices, scale):
    from napari_tramway.core.meshes.geometry import segment_distances

    th = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    r = np.where(np.arange(n_vertices) % 2, 2.0, 4.0)  # a star: not convex
    poly = Polygon(scale * np.column_stack([10 + r * np.cos(th), -3 + r * np.sin(th)]))
    v = poly.vertices
    mid = (v + np.roll(v, -1, axis=0)) / 2
    on_edges = np.concatenate([v + f * (np.roll(v, -1, axis=0) - v) for f in (0.1, 0.3, 0.7)])
    centre = scale * np.array([[10.0, -3.0]])
    outward = mid + 1e-6 * scale * (mid - centre) / np.hypot(*(mid - centre).T)[:, None]
    # edge points computed in floating point are within rounding of the edge: inside
    assert poly.contains(v).all() and poly.contains(mid).all() and poly.contains(on_edges).all()
    assert poly.contains(centre).all() and not poly.contains(outward).any()
    pts = scale * np.random.default_rng(1).uniform([5, -8], [15, 2], (20_000, 2))
    pts = np.concatenate([pts, v, mid, outward])
    got = poly.contains(pts)
    # a result does not depend on the other points tested with it
    np.testing.assert_array_equal(np.concatenate([poly.contains(pts[i::7]) for i in range(7)]),
                                  np.concatenate([got[i::7] for i in range(7)]))
    # and an independent per-point ray casting agrees away from the boundary
    x, y = pts[:, 0], pts[:, 1]
    ray = np.zeros(len(pts), bool)
    for (x1, y1), (x2, y2) in zip(v, np.roll(v, -1, axis=0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            ray ^= ((y1 > y) != (y2 > y)) & (x < x1 + (y - y1) * (x2 - x1) / (y2 - y1))
    far = segment_distances(pts, v) > 1e-9 * scale
    assert far.sum() >= 20_000  # the random points and the outward ones
    np.testing.assert_array_equal(got[far], ray[far])


def test_roi_files_are_written_atomically_and_read_from_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    rois = [Rectangle(0, 0, 1, 1), Ellipse((1, 1), (1, 0.5), 30)]
    p = write_rois(tmp_path / "rois.json", rois)
    assert json.loads(p.read_text(encoding="utf-8"))["units"] == {"space": "µm", "time": "s"}
    assert [r.kind for r in read_rois("~/rois.json")] == ["rectangle", "ellipse"]
    write_rois(tmp_path / "rois.txt", rois[:1])
    with pytest.raises(RoiFormatError):
        write_rois(tmp_path / "rois.txt", rois)  # refused before anything is written
    assert [r.bounds for r in read_rois(tmp_path / "rois.txt")] == [(0.0, 0.0, 1.0, 1.0)]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["rois.json", "rois.txt"]


def _edges_meet_one_by_one(pa, pb):
    """Reference: the pairwise segment test, one pair of edges at a time."""
    def orient(p, q, r):
        v = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
        return 0 if abs(v) < 1e-15 else (1 if v > 0 else -1)

    def on_seg(p, q, r):
        return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])

    for i in range(len(pa)):
        a1, a2 = pa[i], pa[(i + 1) % len(pa)]
        for j in range(len(pb)):
            b1, b2 = pb[j], pb[(j + 1) % len(pb)]
            o1, o2, o3, o4 = orient(a1, a2, b1), orient(a1, a2, b2), orient(b1, b2, a1), orient(b1, b2, a2)
            if (o1 != o2 and o3 != o4) or (o1 == 0 and on_seg(a1, b1, a2)) or (o2 == 0 and on_seg(a1, b2, a2)) \
                    or (o3 == 0 and on_seg(b1, a1, b2)) or (o4 == 0 and on_seg(b1, a2, b2)):
                return True
    return False


def _share_a_point(pa, pb):
    """Reference: a vertex of one inside the other (independent ray casting), or two edges meeting."""
    def inside(p, poly):
        x, y = p
        c = False
        for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                c = not c
        return c

    return inside(pb[0], pa) or inside(pa[0], pb) or _edges_meet_one_by_one(pa, pb)


def test_overlap_of_shapes_whose_boxes_overlap():
    rng = np.random.default_rng(4)
    shapes = [Ellipse(tuple(rng.uniform(0, 6, 2)), tuple(rng.uniform(0.3, 2, 2)), rng.uniform(0, 180))
              for _ in range(4)]
    shapes += [Polygon(rng.uniform(0, 6, 2) + rng.uniform(-1, 1, (3, 2))) for _ in range(16)]
    shapes += [Rectangle(0, 0, 1, 1), Rectangle(1, 0, 2, 1), Polygon([[2, 1], [3, 0.5], [3, 1.5]])]  # touching
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            pa, pb = a.polygon(), b.polygon()
            assert a.overlaps(b) == b.overlaps(a) == _share_a_point(pa, pb), (a, b)
    assert shapes[-3].overlaps(shapes[-2]) and shapes[-2].overlaps(shapes[-1])  # an edge, a vertex
    assert not shapes[-3].overlaps(shapes[-1])
    assert sum(a.overlaps(b) for i, a in enumerate(shapes) for b in shapes[i + 1:]) > 10  # not all apart


def test_grouping_is_transitive_and_respects_time():
    chain = [Rectangle(i, 0, i + 1, 1) for i in range(5)] + [Rectangle(10, 10, 11, 11)]
    assert [r.label for r in group_overlapping(chain)] == ["roi000-001-002-003-004", "roi005"]
    timed = [Rectangle(0, 0, 1, 1, time=(0, 1)), Rectangle(0.5, 0.5, 2, 2, time=(2, 3)),
             Rectangle(0.5, 0.5, 2, 2, time=(1, 2))]
    assert [r.label for r in group_overlapping(timed)] == ["roi000-001-002"]  # 0-2 and 2-1 meet in time
    assert [r.label for r in group_overlapping(timed[:2])] == ["roi000", "roi001"]


def test_self_crossing_polygon_is_read_even_odd():
    bowtie = Polygon([[0, 0], [2, 2], [2, 0], [0, 3]])  # its edges cross at (1.2, 1.2)
    assert bowtie.contains([[0.2, 1.0], [1.8, 1.0], [1.2, 1.2]]).tolist() == [True, True, True]
    assert not bowtie.contains([[1.2, 0.3], [1.2, 2.5]]).any()
