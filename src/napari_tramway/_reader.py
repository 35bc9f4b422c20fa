"""npe2 readers: trajectory files, ROI files, and everything napari-tramway writes.

* trajectory files (TRamWAy text / ``.trxyt``, CSV and other tracker tables, TrackMate and
  ISBI XML) → a **Tracks** layer (µm, s; see :func:`napari_tramway._layers.tracks_from_locations`).
  When a table's columns are not recognised, or a unit cannot be determined (pixels without a
  pixel size, frames without a frame interval), the column-mapping dialog asks how to read it
  (:mod:`napari_tramway._widgets.columns`); a unit assumed against the values' appearance is one
  warning notification.
* ROI files (ours ``.json``; TRamWAy's tab-separated rectangles ``.txt``) → a **Shapes** layer
  of named ROIs.
* results (:mod:`napari_tramway._layers.sources`): a results directory (``run``'s output, the
  panel's), an ``analyze`` output folder, any ``.ntw`` (unit result, maps, mesh, steps), a maps
  CSV → map layers named after their run.
* a TIFF image with an ImageJ pixel-size calibration (ours, Fiji's) → an **Image** layer at its
  scale in µm (:func:`tiff_pixel_size`); other TIFFs are left to napari's own reader.

napari calls readers on its GUI thread: they read and build the layer data synchronously (what
they take is measured in ``benchmarks/gui_stall.py``); the panel's "Open…" (open results) does the same
in a worker thread. Reading problems are one napari notification naming the file and the line or
field, with what to do — never a traceback.
"""

from __future__ import annotations

from pathlib import Path

TRAJECTORY_SUFFIXES = (".txt", ".trxyt", ".trxyzt", ".csv", ".tsv", ".xml", ".dat")
TRAJECTORY_FIX = "check the file: docs/formats.md lists the formats, columns and units read"
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
    from ._layers.sources import kind_of_path

    p = Path(str(path))
    if p.is_dir():
        return read_results if kind_of_path(p) else None
    suffix = p.suffix.lower()
    if suffix == ".ntw":
        return read_results
    if suffix == ".json":
        return read_roi_file if _is_roi_json(p) else None
    if suffix in TIFF_SUFFIXES:
        return read_calibrated_tiff if p.is_file() and tiff_pixel_size(p) is not None else None
    if suffix not in TRAJECTORY_SUFFIXES or not p.is_file():
        return None
    if suffix == ".csv" and kind_of_path(p) == "maps-csv":
        return read_results
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
    return '"napari-tramway/rois"' in _head(p, 2048)


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


def _notify_warning(message: str) -> None:
    try:
        from napari.utils.notifications import show_warning

        show_warning(message)
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


def install_display_hook(viewer) -> None:
    """Set up ``viewer`` for maps: colour bar titles, scale bar in µm, time in s, hover (idempotent)."""
    from ._layers.display import install

    install(viewer)


def image_grid_of_viewer(viewer):
    """The :class:`~napari_tramway._layers.ImageGrid` of the viewer's first wide-field image, if any."""
    if viewer is None:
        return None
    from ._layers import ImageGrid, tramway_md

    try:
        from napari.layers import Image
    except Exception:
        return None
    for layer in viewer.layers:
        if isinstance(layer, Image) and tramway_md(layer).get("kind") != "map":
            return ImageGrid.from_layer(layer)
    return None


# -- trajectories ------------------------------------------------------------------------------

def load_trajectories(path, settings: dict | None = None, interactive: bool = True, parent=None):
    """Read a trajectory file with its data-file ``settings``, asking for them when needed (the
    column-mapping dialog, for columns not recognised or a unit that cannot be determined).

    Returns the :class:`~napari_tramway.core.io.TrajectoryFile` (its warnings not emitted: they
    are in its provenance), or None when the user cancelled the dialog. Raises
    :class:`~napari_tramway.core.errors.TrajectoryFormatError` for other problems.
    """
    from .core.errors import TrajectoryFormatError
    from .core.io import read_trajectory_file

    settings = dict(settings or {})
    while True:
        try:
            return read_trajectory_file(path, settings, warn=False)
        except TrajectoryFormatError as exc:
            if not (interactive and _qt_app() is not None):
                raise
            from ._widgets.columns import ask_file_settings, needs_settings

            if not needs_settings(exc):
                raise
            settings = ask_file_settings(path, str(exc), settings, parent)
            if settings is None:
                return None


def trajectory_layer_data(path, tf):
    """The Tracks layer data of a read file (a :class:`~napari_tramway.core.io.TrajectoryFile`):
    µm and s; its metadata's ``reader`` holds the settings given (:meth:`FileSettings.to_dict`,
    to read it again, and the spec's), ``frame_interval`` (s), ``localization_precision`` (µm)
    and ``pixel_size`` (µm) the values the reading used, ``provenance`` what it did."""
    from ._layers import tracks_from_locations

    data, kwargs, kind = tracks_from_locations(tf.locations, path=str(Path(path).resolve()),
                                               reader=tf.settings.to_dict(), name=Path(str(path)).name)
    md = kwargs["metadata"]
    p = tf.provenance
    if p.frame_interval is not None:
        md["frame_interval"] = p.frame_interval
    md["localization_precision"] = p.localization_precision
    md["pixel_size"] = p.pixel_size
    md["provenance"] = p
    return data, kwargs, kind


def read_trajectory_file(path):
    """npe2 reader: a trajectory file → a Tracks layer (µm, s) with the locations in its metadata."""
    from .core.errors import TrajectoryFormatError

    install_display_hook(_current_viewer())
    try:
        tf = load_trajectories(path)
    except TrajectoryFormatError as exc:
        _notify_error(f"napari-tramway could not read {Path(str(path)).name}: {exc} — {TRAJECTORY_FIX}")
        return [(None,)]
    if tf is None:
        return [(None,)]
    for message in tf.provenance.warnings:
        _notify_warning(f"napari-tramway: {message}")
    return [trajectory_layer_data(path, tf)]


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
    units = tuple("µm" if a in "YX" else "pixel" for a in spatial)  # the scale bar reads µm
    return [(data, {"name": Path(str(path)).stem, "scale": scale, "translate": translate, "rgb": rgb,
                    "units": units, "metadata": metadata}, "image")]


# -- ROIs ---------------------------------------------------------------------------------------

def read_roi_file(path):
    """npe2 reader: a ROI file → a Shapes layer of rectangles, polygons and ellipses (µm)."""
    from ._layers import rois_layer_data
    from .core.errors import RoiFormatError
    from .core.roi import read_rois

    try:
        rois = read_rois(path)
    except RoiFormatError as exc:
        _notify_error(f"napari-tramway could not read the ROIs: {exc} — napari-tramway reads its own .json ROI "
                      "files and TRamWAy's tab-separated rectangles (.txt)")
        return [(None,)]
    return [rois_layer_data(rois, name=f"ROIs ({Path(str(path)).name})")]


# -- results --------------------------------------------------------------------------------------

def read_results(path):
    """npe2 reader: anything napari-tramway writes (see :mod:`napari_tramway._layers.sources`) → layers."""
    from ._layers.sources import layers_from_path
    from .core.errors import ArchiveError

    viewer = _current_viewer()
    install_display_hook(viewer)
    try:
        return layers_from_path(path, image_grid_of_viewer(viewer)) or [(None,)]
    except (ArchiveError, ValueError, OSError, KeyError) as exc:
        _notify_error(f"napari-tramway could not open {path}: {exc} — open a results directory, an analyze output "
                      "folder, a .ntw file or a maps CSV written by napari-tramway")
        return [(None,)]


#: Former names of :func:`read_results` (a result store; one unit's ``.ntw``).
read_store = read_unit_result = read_results
