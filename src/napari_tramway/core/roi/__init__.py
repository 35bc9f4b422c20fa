"""Regions of interest (µm): shapes, support regions and cropping, ROI files.

* :mod:`.shapes` — :class:`Rectangle`, :class:`Polygon`, :class:`Ellipse` (boundaries included).
* :mod:`.polygons` — point-in-polygon, area and overlap tests (shapely).
* :mod:`.regions` — :func:`group_overlapping` into :class:`SupportRegion` s, :class:`FullRegion`,
  :func:`crop` (a step belongs to the region of its origin).
* :mod:`.files` — :func:`read_rois` / :func:`write_rois` (TRamWAy's text files, our JSON file).
"""

from .files import ROI_FORMAT, ROI_FORMAT_VERSION, read_rois, write_rois
from .polygons import ClosedPolygon, polygon_area, polygon_contains
from .regions import FullRegion, SupportRegion, crop, group_overlapping, roi_label
from .shapes import Ellipse, Polygon, Rectangle, Roi, roi_from_dict

__all__ = [
    "Roi", "Rectangle", "Polygon", "Ellipse", "roi_from_dict", "roi_label", "SupportRegion", "FullRegion",
    "crop", "group_overlapping", "read_rois", "write_rois", "ROI_FORMAT", "ROI_FORMAT_VERSION",
    "ClosedPolygon", "polygon_area", "polygon_contains",
]
