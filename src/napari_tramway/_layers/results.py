"""Results → layers: the maps of several units of a run drawn together, filled as units finish.

Without time windows, every unit of a file (one per support region) goes in the same layers; with
time windows, a collection holds one region's windows, stacked on a leading time axis. Layers are
named after the run (:mod:`.runs`) and, when a run has several collections, the file or region.
"""

from __future__ import annotations

from collections.abc import Sequence

from .grids import ImageGrid, RasterGrid, raster_for, raster_grid, typical_cell_size
from .maps import LayerData, compose_layers
from .runs import RunLabel, run_label, run_label_of_meta, unit_region_title, unit_title


def region_of_unit(meta: dict | None):
    """The support region (ROIs) of a unit, rebuilt from its result metadata; None when unknown."""
    if not meta or "spec" not in meta or "unit" not in meta:
        return None
    try:
        from ..pipeline.data import region_by_label, support_regions
        from ..pipeline.spec import AnalysisSpec

        spec = AnalysisSpec.from_dict(meta["spec"])
        idx = int(meta["unit"]["file_index"])
        if not spec.rois_for(idx):
            return None  # the whole field of view: nothing to clip
        return region_by_label(support_regions(spec, idx), meta["unit"]["region_label"])
    except Exception:
        return None


def collection_key(label: str, meta: dict | None) -> tuple[str, int | None]:
    """``(collection, window index)`` of a unit: its file without time windows, else its region."""
    u = (meta or {}).get("unit") if isinstance((meta or {}).get("unit"), dict) else {}
    if u.get("segment") is None:
        return (u.get("file_label") or label.split("/", 1)[0]), None
    return label.rsplit("/", 1)[0], int(u.get("segment_index") or 0)


def collection_title(key: str, meta: dict | None, with_file: bool = True) -> str:
    """A collection as the user knows it: the file, or ``file/ROI names`` for one region's windows
    (just the ROI names when ``with_file`` is false: a run of one file)."""
    u = (meta or {}).get("unit")
    if not isinstance(u, dict) or u.get("segment") is None:
        return key
    if not with_file:
        return unit_region_title(meta, key)
    return "/".join(unit_title(meta, key).split("/")[:2])


def layer_name_suffix(run: RunLabel | None, title: str, show_collection: bool) -> str:
    """What follows the quantity in a layer's name: the run, and the collection when needed."""
    if run is None:
        return title
    return f"{run.text} · {title}" if show_collection else run.text


class MapCollection:
    """Maps of several units of one run shown together, filled as units finish.

    ``add(window, label, maps, meta)`` returns the layer-data tuples of every unit known so far,
    under stable keys (metadata ``key``), so a widget replaces the data of the layers it already
    shows instead of adding layers.

    ``bounds`` (xmin, ymin, xmax, ymax µm): where every unit of the collection will be drawn (the
    union of their regions, known when the run is planned). The raster then covers it from the
    first unit on, and keeps its place and shape as the other units come: napari moving or
    reshaping a layer re-slices every layer of the viewer.
    """

    def __init__(self, key: str, segments: Sequence[tuple[float, float]] | None = None,
                 image_grid: ImageGrid | None = None, store: str | None = None, log_diffusivity: bool = True,
                 raster: RasterGrid | None = None, run: RunLabel | None = None, show_collection: bool = True,
                 with_file: bool = True, bounds: tuple[float, float, float, float] | None = None):
        self.key = key
        self.segments = None if segments is None else [tuple(map(float, s)) for s in segments]
        n = 1 if self.segments is None else max(1, len(self.segments))
        self.windows: list[dict] = [dict() for _ in range(n)]
        self.image_grid = image_grid
        self.store = store
        self.log_diffusivity = log_diffusivity
        self.raster: RasterGrid | None = raster
        self._fixed_raster = raster is not None
        self.run = run
        self.show_collection = show_collection
        self.with_file = with_file
        self.title = key
        self.titles: dict[str, str] = {}
        self.bounds = None if bounds is None else tuple(float(b) for b in bounds)

    def set(self, window: int | None, label: str, maps, meta: dict | None) -> None:
        """Record a unit's maps (``window``: its time window index, None without windows)."""
        k = 0 if window is None else int(window)
        if self.run is None:
            self.run = run_label_of_meta(meta, self.store)
        self.titles[label] = unit_region_title(meta, label)
        if len(self.titles) == 1:
            self.title = collection_title(self.key, meta, self.with_file)
        self.windows[k][label] = (label, maps, meta, region_of_unit(meta))
        if self._fixed_raster:
            return
        meshes = [e[1].mesh for w in self.windows for e in w.values()]
        if self.bounds is not None:  # the regions of all the units, planned: a raster that stays
            raster = raster_grid(self.bounds, self.image_grid, min(typical_cell_size(m) for m in meshes))
        else:
            raster = raster_for(meshes, self.image_grid)
        if self.raster is None or not self.raster.covers(raster):
            self.raster = raster

    @property
    def layer_key(self) -> str:
        return f"{self.run.key if self.run else ''}|{self.key}"

    def layers(self) -> list[LayerData]:
        windows = [sorted(w.values(), key=lambda e: e[0]) for w in self.windows]
        return compose_layers(windows, self.image_grid,
                              name=layer_name_suffix(self.run, self.title, self.show_collection),
                              key=self.layer_key, run=self.run, segments=self.segments,
                              stacked=self.segments is not None, log_diffusivity=self.log_diffusivity,
                              store=self.store, raster=self.raster, titles=self.titles)

    def add(self, window: int | None, label: str, maps, meta: dict | None) -> list[LayerData]:
        """:meth:`set` then :meth:`layers`."""
        self.set(window, label, maps, meta)
        return self.layers()


def plan_collections(units, run: RunLabel | None, image_grid: ImageGrid | None, store: str | None,
                     log_diffusivity: bool = True, raster: RasterGrid | None = None,
                     spec: dict | None = None) -> dict[str, MapCollection]:
    """The (empty) collections of a run's units (:class:`~napari_tramway.pipeline.units.Unit` or
    their dicts), keyed by :func:`collection_key`; each then takes its units' maps as they finish.
    With the run's ``spec`` (dict form), a collection whose units all have ROIs knows where they
    will be drawn (see :class:`MapCollection`)."""
    segments: dict[str, dict] = {}
    keys: list[str] = []
    units = [u.to_dict() if hasattr(u, "to_dict") else dict(u) for u in units]
    bounds: dict[str, list] = {}
    for d in units:
        key, _ = collection_key(d.get("label", ""), {"unit": d})
        region = region_of_unit({"spec": spec, "unit": d}) if spec is not None else None
        try:
            b = None if region is None else tuple(float(v) for v in region.bounds)
        except (TypeError, ValueError):
            b = None
        bounds.setdefault(key, []).append(b)
    files = {d.get("file_label") for d in units}
    for d in units:
        key, window = collection_key(d.get("label", ""), {"unit": d})
        if key not in keys:
            keys.append(key)
        if window is not None:
            segments.setdefault(key, {})[window] = tuple(d["segment"])
    show = len(keys) > 1
    out = {}
    for key in keys:
        segs = None
        if key in segments:
            n = max(segments[key]) + 1
            segs = fill_segments([segments[key].get(i) for i in range(n)])
        out[key] = MapCollection(key, segs, image_grid, store, log_diffusivity, raster, run, show, len(files) > 1,
                                 bounds=union_bounds(bounds.get(key, [None])))
    return out


def union_bounds(all_bounds) -> tuple[float, float, float, float] | None:
    """The box covering every ``(xmin, ymin, xmax, ymax)``; None if any is unknown."""
    all_bounds = list(all_bounds)
    if not all_bounds or any(b is None for b in all_bounds):
        return None
    b = list(zip(*all_bounds))
    return (min(b[0]), min(b[1]), max(b[2]), max(b[3]))


def layers_from_results(results, image_grid: ImageGrid | None = None, labels: Sequence[str] | None = None,
                        log_diffusivity: bool = True, raster: RasterGrid | None = None,
                        run_name: str | None = None) -> list[LayerData]:
    """Layer-data tuples of every done unit of a result store (see :class:`MapCollection`).

    ``raster`` forces the maps' pixel grid (default: over the meshes, aligned on ``image_grid``);
    e.g. ``RasterGrid(image_grid.origin, image_grid.pixel_size, image_grid.shape)`` draws the maps
    on the image's own pixels. ``run_name`` names the run (default: the store's folder name).
    """
    labels = results.labels() if labels is None else list(labels)
    store = str(getattr(results.store, "root", "")) or None
    loaded = [(label, *results.unit(label)) for label in labels]
    return layers_from_units(loaded, image_grid, store=store, log_diffusivity=log_diffusivity, raster=raster,
                             run_name=run_name)


def layers_from_units(loaded, image_grid: ImageGrid | None = None, *, store: str | None = None,
                      log_diffusivity: bool = True, raster: RasterGrid | None = None,
                      run_name: str | None = None) -> list[LayerData]:
    """Layer-data tuples of units ``(label, maps, meta)`` (one or several runs, in any order)."""
    by_run: dict[str, list] = {}
    runs: dict[str, RunLabel] = {}
    for label, maps, meta in loaded:
        run = run_label_of_meta(meta, store, run_name)
        runs[run.key] = run
        by_run.setdefault(run.key, []).append((label, maps, meta))
    out: list[LayerData] = []
    for key, items in by_run.items():
        colls = plan_collections([dict(meta.get("unit") or {"label": label}) for label, _, meta in items],
                                 runs[key], image_grid, store, log_diffusivity, raster,
                                 spec=next((meta.get("spec") for _, _, meta in items if meta and meta.get("spec")), None))
        for label, maps, meta in items:
            ckey, window = collection_key(label, meta)
            colls[ckey].set(window, label, maps, meta)
        for coll in colls.values():
            out += coll.layers()
    return out


def layers_from_maps(maps, image_grid: ImageGrid | None = None, *, unit: str | None = None,
                     meta: dict | Sequence[dict | None] | None = None,
                     segments: Sequence[tuple[float, float]] | None = None, region=None,
                     log_diffusivity: bool = True, store: str | None = None, uncertainty: bool = True,
                     counts: bool = False, raster: RasterGrid | None = None) -> list[LayerData]:
    """Layer-data tuples showing ``maps`` (one :class:`~napari_tramway.core.maps.Maps`, or the maps
    of consecutive time windows of one region, ``None`` for a window not computed yet).

    ``unit`` names the layers (``<quantity> · <unit>``; default: the unit's run and label from
    ``meta``); ``segments`` (s) are the windows' times; ``region`` clips the maps (default: from
    ``meta``); ``log_diffusivity`` draws log10 D; ``uncertainty`` adds the ``... sd`` maps;
    ``counts`` adds the translocation count.
    """
    from ..core.maps import Maps

    stacked = not isinstance(maps, Maps)
    maps_list = list(maps) if stacked else [maps]
    metas = [meta] * len(maps_list) if (isinstance(meta, dict) or meta is None) else list(meta)
    windows = []
    for m, md in zip(maps_list, metas):
        if m is None:
            windows.append([])
            continue
        reg = region if region is not None else region_of_unit(md)
        u = (md or {}).get("unit")
        label = u.get("label", unit or "maps") if isinstance(u, dict) else (unit or "maps")
        windows.append([(label, m, md, reg)])
    first = next((md for md in metas if md), None) or {}
    run = run_label(first.get("spec"), store) if first.get("spec") else None
    if unit is None:
        u = first.get("unit", {}) if isinstance(first.get("unit"), dict) else {}
        title = unit_title(first, u.get("label", "maps"))
        if stacked:
            title = "/".join(title.split("/")[:2])
        unit = layer_name_suffix(run, title, True)
    return compose_layers(windows, image_grid, name=unit, run=run, segments=segments if stacked else None,
                          stacked=stacked, log_diffusivity=log_diffusivity, store=store, uncertainty=uncertainty,
                          counts=counts, raster=raster)


def fill_segments(segs: list) -> list:
    """Windows with gaps (units not on disk) filled by extrapolating the regular ones."""
    known = [(i, s) for i, s in enumerate(segs) if s is not None]
    (i0, s0), (i1, s1) = known[0], known[-1]
    width = s0[1] - s0[0]
    shift = (s1[0] - s0[0]) / (i1 - i0) if i1 > i0 else width
    base = s0[0] - i0 * shift
    return [s if s is not None else (base + i * shift, base + i * shift + width) for i, s in enumerate(segs)]
