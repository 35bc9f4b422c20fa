"""Regions of interest (µm): shapes, support regions and cropping, ROI files.

* :mod:`.shapes` — :class:`Rectangle`, :class:`Polygon`, :class:`Ellipse` (boundaries included).
* :mod:`.polygons` — point-in-polygon, area and overlap tests (shapely).
* :mod:`.regions` — :func:`group_overlapping` into :class:`SupportRegion` s, :class:`FullRegion`,
  :func:`crop` (a step belongs to the region of its origin).
* :mod:`.files` — :func:`read_rois` / :func:`write_rois` (TRamWAy's text files, our JSON file).

The names are imported from their module when first used: reading a spec or a ROI file does not
import shapely (only testing points against a shape does).
"""

from ..lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(("ROI_FORMAT", "ROI_FORMAT_VERSION", "read_rois", "write_rois"), "files"),
    **dict.fromkeys(("ClosedPolygon", "polygon_area", "polygon_contains"), "polygons"),
    **dict.fromkeys(("FullRegion", "SupportRegion", "crop", "group_overlapping", "roi_label"), "regions"),
    **dict.fromkeys(("Ellipse", "Polygon", "Rectangle", "Roi", "roi_from_dict"), "shapes"),
}

__all__ = [
    "Roi", "Rectangle", "Polygon", "Ellipse", "roi_from_dict", "roi_label", "SupportRegion", "FullRegion",
    "crop", "group_overlapping", "read_rois", "write_rois", "ROI_FORMAT", "ROI_FORMAT_VERSION",
    "ClosedPolygon", "polygon_area", "polygon_contains",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
