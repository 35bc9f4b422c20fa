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
