"""npe2 readers: trajectory files, ROI files, result stores and unit results.

* trajectory files (TRamWAy text / ``.trxyt``, CSV and other tracker tables, TrackMate and
  ISBI XML) → a **Tracks** layer (µm, s; see :func:`napari_tramway._layers.tracks_from_locations`).
  When a table's columns are not recognised, a dialog asks which column is which.
* ROI files (ours ``.json``; TRamWAy's tab-separated rectangles ``.txt``) → a **Shapes** layer.
* a result store directory (``store.json`` inside) or one unit's ``.ntw`` result → map layers.
* a TIFF image with an ImageJ pixel-size calibration (ours, Fiji's) → an **Image** layer at its
  scale in µm (:func:`tiff_pixel_size`); other TIFFs are left to napari's own reader.

Reading problems are shown as napari notifications (one line naming the file and the line or
column), never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

TRAJECTORY_SUFFIXES = (".txt", ".trxyt", ".trxyzt", ".csv", ".tsv", ".xml", ".dat")
TIFF_SUFFIXES = (".tif", ".tiff")


def get_reader(path):
    """The reader function for ``path``, or None when napari-tramway does not read it."""
    if isinstance(path, (list, tuple)):
        readers = [get_reader(p) for p in path]
        if not path or any(r is None for r in readers):
            return None

        def read_all(paths):
            out = []
            for p, r in zip(paths, readers):
                out += [ld for ld in r(p) if ld and ld[0] is not None]
            return out or [(None,)]

        return read_all
    p = Path(str(path))
    if p.is_dir():
        return read_store if (p / "store.json").is_file() else None
    suffix = p.suffix.lower()
    if suffix == ".ntw":
        return read_unit_result
    if suffix == ".json":
        return read_roi_file if _is_roi_json(p) else None
    if suffix in TIFF_SUFFIXES:
        return read_calibrated_tiff if p.is_file() and tiff_pixel_size(p) is not None else None
    if suffix not in TRAJECTORY_SUFFIXES or not p.is_file():
        return None
    if suffix in (".txt", ".tsv") and _is_tramway_roi_text(p):
        return read_roi_file
    if suffix == ".xml" and not _is_trajectory_xml(p):
        return None
    return read_trajectory_file


# -- helpers ---------------------------------------------------------------------------------

def _head(p: Path, n: int = 4096) -> str:
    try:
        with open(p, "rb") as fh:
            return fh.read(n).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _is_roi_json(p: Path) -> bool:
    text = _head(p, 2048)
    return '"napari-tramway/rois"' in text


def _is_tramway_roi_text(p: Path) -> bool:
    first = _head(p, 512).lstrip().splitlines()[:1]
    return bool(first) and "x min" in first[0] and "y min" in first[0]


def _is_trajectory_xml(p: Path) -> bool:
    text = _head(p, 8192)
    return "<TrackMate" in text or "<TrackContestISBI2012" in text or "<Tracks" in text or "<particle" in text


def _notify_error(message: str) -> None:
    try:
        from napari.utils.notifications import show_error

        show_error(message)
    except Exception:  # no napari: fall back to stderr
        import sys

        print(message, file=sys.stderr)


def _qt_app():
    try:
        from qtpy.QtWidgets import QApplication

        return QApplication.instance()
    except Exception:
        return None


def _current_viewer():
    try:
        import napari

        return napari.current_viewer()
    except Exception:
        return None


_HOOKED: set[int] = set()


def install_display_hook(viewer) -> None:
    """Apply the settings layer-data tuples cannot carry (colour bars, label contours) to the
    napari-tramway layers added to ``viewer`` (idempotent)."""
    if viewer is None or id(viewer) in _HOOKED:
        return
    from ._layers import apply_display

    def on_insert(event):
        try:
            apply_display(event.value)
            md = (event.value.metadata or {}).get("napari_tramway")
            if isinstance(md, dict) and md.get("kind") == "map":
                from ._widgets.common import harmonize_maps

                harmonize_maps(viewer, limits=False)  # one colour bar per quantity
        except Exception:
            pass

    viewer.layers.events.inserted.connect(on_insert)
    _HOOKED.add(id(viewer))
    try:
        import weakref

        weakref.finalize(viewer, _HOOKED.discard, id(viewer))
    except TypeError:
        pass


def image_grid_of_viewer(viewer):
    """The :class:`~napari_tramway._layers.ImageGrid` of the viewer's first wide-field image, if any."""
    if viewer is None:
        return None
    from ._layers import METADATA_KEY, ImageGrid

    try:
        from napari.layers import Image
    except Exception:
        return None
    for layer in viewer.layers:
        md = (layer.metadata or {}).get(METADATA_KEY)
        if isinstance(layer, Image) and not (isinstance(md, dict) and md.get("kind") == "map"):
            return ImageGrid.from_layer(layer)
    return None


# -- trajectories ------------------------------------------------------------------------------

def load_trajectories(path, options: dict | None = None, interactive: bool = True, parent=None):
    """Read a trajectory file, asking for the column mapping when needed.

    Returns ``(locations, options used)``, or None when the user cancelled the mapping dialog.
    Raises :class:`~napari_tramway.core.errors.TrajectoryFormatError` for other problems.
    """
    from .core.errors import TrajectoryFormatError
    from .core.io import read_trajectories

    opts = dict(options or {})
    while True:
        try:
            return read_trajectories(path, **opts), opts
        except TrajectoryFormatError as exc:
            if not (interactive and _qt_app() is not None):
                raise
            from ._widgets.columns import ask_column_mapping, is_column_problem

            if not is_column_problem(exc):
                raise
            new = ask_column_mapping(path, str(exc), parent)
            if new is None:
                return None
            opts = {**opts, **new}


def trajectory_layer_data(path, locations, options: dict):
    from ._layers import tracks_from_locations

    reader = {k: v for k, v in options.items() if k not in ("frame_interval", "localization_precision")}
    return tracks_from_locations(locations, path=str(Path(path).resolve()), reader=reader,
                                 name=Path(str(path)).name)


def read_trajectory_file(path):
    """npe2 reader: a trajectory file → a Tracks layer (µm, s) with the locations in its metadata."""
    from .core.errors import TrajectoryFormatError

    try:
        got = load_trajectories(path)
    except TrajectoryFormatError as exc:
        _notify_error(f"napari-tramway could not read the trajectories: {exc}")
        return [(None,)]
    if got is None:
        return [(None,)]
    locations, opts = got
    return [trajectory_layer_data(path, locations, opts)]


# -- calibrated images ---------------------------------------------------------------------------

#: ImageJ's spellings of length units (``unit=`` in its TIFF description), in µm
_IMAGEJ_UNITS = {"um": 1.0, "\u00b5m": 1.0, "\u03bcm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0,
                 "micrometer": 1.0, "micrometre": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "cm": 1e4,
                 "m": 1e6}


def tiff_pixel_size(path) -> float | None:
    """The pixel size (µm) of a TIFF written with an ImageJ calibration (by napari-tramway's demo,
    or by Fiji/ImageJ): ``XResolution`` pixels per ``unit`` of its ImageJ description; ``None``
    without ImageJ metadata, without a length unit, or for non-square pixels."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            unit = str((tif.imagej_metadata or {}).get("unit", "")).strip().lower()
            tags = tif.pages[0].tags
            xres, yres = tags.get("XResolution"), tags.get("YResolution")
            xres, yres = (xres.value if xres else None), (yres.value if yres else None)
    except Exception:  # not a readable TIFF: napari's own reader says so
        return None
    factor = _IMAGEJ_UNITS.get(unit)
    if factor is None or not xres or not xres[0] or not xres[1]:
        return None
    pixel = factor * xres[1] / xres[0]
    if yres and yres[0] and yres[1] and abs(factor * yres[1] / yres[0] - pixel) > 1e-9 * pixel:
        return None
    return pixel


def read_calibrated_tiff(path):
    """npe2 reader: a TIFF with an ImageJ calibration → an Image layer scaled in µm (corner of the
    first pixel at 0, 0), the pixel size in its metadata."""
    import tifffile

    from ._layers import METADATA_KEY, image_transform

    pixel = tiff_pixel_size(path)
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data, axes = series.asarray(), series.axes
    rgb = axes.endswith("S") and data.shape[-1] in (3, 4)
    spatial = axes[:-1] if rgb else axes
    (sy, sx), (ty, tx) = image_transform((0.0, 0.0), pixel)
    scale = tuple({"Y": sy, "X": sx}.get(a, 1.0) for a in spatial)
    translate = tuple({"Y": ty, "X": tx}.get(a, 0.0) for a in spatial)
    metadata = {METADATA_KEY: {"kind": "image", "pixel_size": pixel, "origin": [0.0, 0.0]}}
    return [(data, {"name": Path(str(path)).stem, "scale": scale, "translate": translate, "rgb": rgb,
                    "metadata": metadata}, "image")]


# -- ROIs ---------------------------------------------------------------------------------------

def read_roi_file(path):
    """npe2 reader: a ROI file → a Shapes layer of rectangles, polygons and ellipses (µm)."""
    from ._layers import rois_layer_data
    from .core.errors import RoiFormatError
    from .core.roi import read_rois

    try:
        rois = read_rois(path)
    except RoiFormatError as exc:
        _notify_error(f"napari-tramway could not read the ROIs: {exc}")
        return [(None,)]
    return [rois_layer_data(rois, name=f"ROIs ({Path(str(path)).name})")]


# -- results --------------------------------------------------------------------------------------

def read_store(path):
    """npe2 reader: a result store directory → the map layers of every done unit."""
    from ._layers import layers_from_results
    from .core.errors import ArchiveError
    from .pipeline import open_results

    viewer = _current_viewer()
    install_display_hook(viewer)
    try:
        results = open_results(path)
        if not results.labels():
            _notify_error(f"napari-tramway: {path} holds no finished unit yet")
            return [(None,)]
        return layers_from_results(results, image_grid_of_viewer(viewer)) or [(None,)]
    except (ArchiveError, ValueError, OSError) as exc:
        _notify_error(f"napari-tramway could not open the results: {exc}")
        return [(None,)]


def read_unit_result(path):
    """npe2 reader: one unit's result file (``.ntw``) → its map layers."""
    from ._layers import layers_from_maps
    from .core.archive import read_archive
    from .core.errors import ArchiveError
    from .core.maps import Maps
    from .pipeline.store import UNIT_FORMAT

    viewer = _current_viewer()
    install_display_hook(viewer)
    try:
        arrays, meta, _ = read_archive(path, UNIT_FORMAT)
        maps = Maps.from_arrays(arrays, meta["maps"])
    except (ArchiveError, KeyError, ValueError, OSError) as exc:
        _notify_error(f"napari-tramway could not read the unit result: {exc}")
        return [(None,)]
    label = (meta.get("unit") or {}).get("label") or Path(str(path)).stem
    return layers_from_maps(maps, image_grid_of_viewer(viewer), unit=label, meta=meta)

