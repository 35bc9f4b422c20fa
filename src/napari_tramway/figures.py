"""Publication figures of maps, headless (matplotlib): ``napari-tramway figure RESULT``, the
panel's "Figure…" button and ``napari-tramway demo --headless`` all use :func:`figures`.

Each figure shows one quantity of one run: the maps drawn on the cells (the same cell rasters as
the napari layers), optionally over the wide-field image (grey), with a colour bar titled with the
quantity and its unit, a title naming the run, and a scale bar in µm. D is drawn on a logarithmic
colour scale with ticks in µm²/s; force and drift as arrows coloured by their magnitude.

Colour scales: ``shared_scale=True`` draws every region of a file on one colour scale (one figure);
``False`` draws each region with its own scale (one figure per region, named after its ROIs); the
default (None) shares the scale of absolute quantities (D, drift, force, counts) and separates the
potential of regions fitted separately — each region's potential is relative to its own minimum,
so one scale across them would compare unrelated zeros. Time windows are small multiples of one
figure, on one scale. Formats: PNG, SVG, PDF (any matplotlib writes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._layers.colour import SYMBOLS, VECTORS, numeric_columns, quantity, scalar_columns
from ._layers.grids import ImageGrid, RasterGrid, cell_raster, raster_for
from ._layers.maps import vector_field
from ._layers.results import collection_key, region_of_unit
from ._layers.runs import run_label_of_meta, unit_title

FORMATS = ("png", "svg", "pdf")
#: Quantities drawn by default, when the maps have them.
DEFAULT_QUANTITIES = ("diffusivity", "potential", "force", "drift")
#: Quantities whose zero is each region's own (their colour scales are separate by default).
RELATIVE = ("potential",)
PANEL_INCHES = 4.0


@dataclass
class Background:
    """A grey wide-field image under the maps: ``image`` (rows, cols) on ``grid`` (µm)."""

    image: np.ndarray
    grid: ImageGrid

    @classmethod
    def from_array(cls, image, grid: ImageGrid | None) -> Background | None:
        if grid is None or not grid.pixel_size:
            return None
        image = np.asarray(image)
        return cls(image, ImageGrid(grid.origin, grid.pixel_size, image.shape[-2:]))

    @classmethod
    def from_file(cls, path, pixel_size: float, origin=(0.0, 0.0)) -> Background:
        """A 2D TIFF (or any image ``tifffile`` reads), pixel size in µm, corner at ``origin`` (µm)."""
        import tifffile

        image = np.asarray(tifffile.imread(path), float)
        if image.ndim > 2:
            image = image.reshape((-1, *image.shape[-2:])).mean(axis=0)
        return cls(image, ImageGrid(tuple(map(float, origin)), float(pixel_size), image.shape))

    def grey(self) -> np.ndarray:
        g = self.image.astype(float)
        lo, hi = np.percentile(g, [1, 99.5])
        return np.clip((g - lo) / max(hi - lo, 1e-12), 0, 1)


def safe_name(text: str) -> str:
    """A file-name-safe version of a name (ROI names, run names): spaces kept, separators dropped."""
    s = re.sub(r'[\\/:*?"<>|]+', "-", str(text)).strip(" .-")
    return s or "figure"


def nice_length(width: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k µm) about a fifth of ``width`` µm."""
    target = max(width / 5, 1e-9)
    e = math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * 10**e <= target:
            return m * 10**e
    return 10**e


def figures(units, out, *, quantities=None, formats=None, background: Background | None = None,
            shared_scale: bool | None = None, dpi: int = 200) -> list[Path]:
    """Write the figures of ``units`` — ``(label, maps, meta, store)`` as given by
    :func:`napari_tramway._layers.sources.units_of_path` — and return their paths.

    ``out``: a file (``fig.png``: its stem and format) or a directory (files named after the runs).
    ``quantities``: maps columns (default :data:`DEFAULT_QUANTITIES` present in the maps);
    ``formats``: of :data:`FORMATS` (default: ``out``'s suffix, else PNG). Runs are named from the
    units' own metadata.
    """
    out = Path(out)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        directory, stem = out.parent, out.stem
        formats = list(formats or [suffix])
    else:
        directory, stem = out, None
        formats = list(formats or ["png"])
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown figure format(s) {', '.join(bad)}; use {', '.join(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    by_run: dict = {}
    for label, maps, meta, store in units:
        run = run_label_of_meta(meta, store)
        by_run.setdefault(run.key, (run, []))[1].append((label, maps, meta))
    written: list[Path] = []
    for run, items in by_run.values():
        base = stem if (stem and len(by_run) == 1) else safe_name(f"{stem + ' ' if stem else ''}{run.name}")
        by_file: dict = {}
        for label, maps, meta in items:
            key, window = collection_key(label, meta)
            file_key = (meta.get("unit") or {}).get("file_label") or key.split("/")[0]
            by_file.setdefault(file_key, []).append((label, maps, meta, window))
        for file_key, entries in by_file.items():
            name = base if len(by_file) == 1 else f"{base} {safe_name(file_key)}"
            written += _file_figures(run, entries, directory, name, quantities, formats, background, shared_scale,
                                     dpi)
    return written


def figures_of_path(path, out, **kwargs) -> list[Path]:
    """:func:`figures` of everything behind ``path`` (a results directory, an analyze output, a ``.ntw``)."""
    from ._layers.sources import units_of_path

    return figures(units_of_path(path), out, **kwargs)


def _file_figures(run, entries, directory, name, quantities, formats, background, shared_scale, dpi) -> list[Path]:
    columns: list[str] = []
    for _, maps, _, _ in entries:
        columns += [c for c in numeric_columns(maps.table) if c not in columns]
    available = scalar_columns(columns, uncertainty=False) + [f for f, (cols, _) in VECTORS.items() if cols[0] in columns]
    wanted = [q for q in (quantities or DEFAULT_QUANTITIES) if q in available]
    if quantities:
        missing = [q for q in quantities if q not in available]
        if missing:
            raise ValueError(f"{name}: the maps have no {', '.join(missing)}; they have {', '.join(available)}")
    regions: dict = {}
    for label, maps, meta, window in entries:
        u = meta.get("unit") or {}
        regions.setdefault(u.get("region_label", label), []).append((label, maps, meta, window))
    written = []
    for column in wanted:
        shared = shared_scale if shared_scale is not None else not (column in RELATIVE and len(regions) > 1)
        groups = [(None, entries)] if shared else [(r, e) for r, e in regions.items()]
        for region, group in groups:
            title_region = unit_title(group[0][2], group[0][0]).split("/")[1] if region is not None else ""
            fig = draw_figure(run, column, group, background, title_region)
            symbol = quantity(column).symbol if column not in VECTORS else column
            fname = f"{name} {symbol}" + (f" {safe_name(title_region)}" if region is not None else "")
            for fmt in formats:
                path = directory / f"{fname}.{fmt}"
                fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
                written.append(path)
    return written


def draw_figure(run, column, entries, background=None, region_title: str = ""):
    """The matplotlib ``Figure`` of one quantity (``column``: a maps column, or ``force``/``drift``) of
    ``entries`` — ``(label, maps, meta, window index)`` of one run's units — : a panel per time window
    (one without windows), one colour bar, a title naming the run, a scale bar in µm."""
    from matplotlib.figure import Figure

    windows = sorted({w for *_, w in entries}, key=lambda w: -1 if w is None else w)
    n = len(windows)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    meshes = [e[1].mesh for e in entries]
    grid = background.grid if background is not None else None
    raster = raster_for(meshes, grid)
    extent = _view_extent(raster, background, region_title)
    aspect = (extent[3] - extent[2]) / max(extent[1] - extent[0], 1e-9)
    fig = Figure(figsize=(PANEL_INCHES * ncols + 1.2, PANEL_INCHES * aspect * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    norm, cmap, label = _colour_scale(column, entries)
    mappable = None
    for ax, window in zip(axes, windows):
        ax.set_facecolor("white")
        if background is not None:  # dimmed under arrows, so that light arrows stay visible
            ax.imshow(background.grey() * (0.6 if column in VECTORS else 1.0), cmap="gray", vmin=0, vmax=1,
                      extent=_imshow_extent(background.grid.extent()), interpolation="nearest")
        group = [e for e in entries if e[3] == window]
        if column in VECTORS:
            mappable = _draw_vectors(ax, column, group, raster, norm, cmap) or mappable
        else:
            mappable = _draw_scalar(ax, column, group, raster, norm, cmap)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[3], extent[2])  # y down, as in napari
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        seg = (group[0][2].get("unit") or {}).get("segment") if group else None
        if seg is not None:
            ax.set_title(f"t = {seg[0]:g}–{seg[1]:g} s", fontsize=9)
        _scale_bar(ax, extent)
    for ax in axes[len(windows):]:
        ax.set_visible(False)
    if mappable is not None:
        cb = fig.colorbar(mappable, ax=list(axes[: len(windows)]), shrink=0.8)
        cb.set_label(label)
        if column == "diffusivity":  # log scale, ticks as plain numbers in µm²/s: 0.02, 0.05, 0.1...
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            cb.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            cb.ax.yaxis.set_minor_formatter(NullFormatter())
    title = f"{_quantity_title(column)} — {run.text}"
    fig.suptitle(title + (f"\n{region_title}" if region_title else ""), fontsize=10)
    return fig


def _quantity_title(column) -> str:
    if column in VECTORS:
        q = quantity(VECTORS[column][0][0])
        return f"{column} ‖{SYMBOLS[column]}‖ ({q.unit})"
    q = quantity(column, log_diffusivity=False)
    name = {"diffusivity": "diffusivity", "potential": "potential"}.get(column, q.symbol)
    return f"{name} {q.symbol} ({q.unit})" if q.unit else name


def _colour_scale(column, entries):
    """``(norm, colormap name, colour bar label)`` of a quantity over ``entries``' maps."""
    from matplotlib.colors import LogNorm, Normalize

    from ._layers.colour import column_limits

    if column in VECTORS:
        cx, cy = VECTORS[column][0]
        mags = np.concatenate([np.hypot(e[1].table[cx].to_numpy(float), e[1].table[cy].to_numpy(float))
                               for e in entries])
        lo, hi = column_limits(column, mags)
        q = quantity(cx)
        return Normalize(max(lo, 0.0), hi), VECTORS[column][1], f"‖{SYMBOLS[column]}‖ ({q.unit})"
    values = np.concatenate([e[1].table[column].to_numpy(float) for e in entries])
    q = quantity(column, log_diffusivity=False)
    label = f"{q.symbol} ({q.unit})" if q.unit else q.symbol
    if column == "diffusivity":
        pos = values[np.isfinite(values) & (values > 0)]
        lo, hi = (np.percentile(pos, [1, 99]) if pos.size else (1e-3, 1.0))
        if not hi > lo:
            lo, hi = lo / 2, hi * 2
        return LogNorm(lo, hi), q.colormap, f"{label}, log scale"
    lo, hi = column_limits(column, values)
    if q.note:
        label += f"\n{q.note}"
    return Normalize(lo, hi), q.colormap, label


def _draw_scalar(ax, column, group, raster: RasterGrid, norm, cmap):
    plane = np.full(raster.shape, np.nan)
    for _label, maps, meta, _ in group:
        ids = cell_raster(maps.mesh, raster, region_of_unit(meta))
        v = maps.table[column].to_numpy(float)
        lut = np.append(v, np.nan)
        inside = ids >= 0
        plane[inside] = lut[ids][inside]
    masked = np.ma.masked_invalid(plane)
    return ax.imshow(masked, cmap=cmap, norm=norm, extent=_imshow_extent(raster.extent()), interpolation="nearest",
                     alpha=0.9)


def _draw_vectors(ax, column, group, raster: RasterGrid, norm, cmap):
    cx, cy = VECTORS[column][0]
    parts = []
    for _label, maps, meta, _ in group:
        ids = cell_raster(maps.mesh, raster, region_of_unit(meta))
        parts.append(vector_field(maps, cx, cy, ids, raster))
    if not parts:
        return None
    x, y, vx, vy = (np.concatenate(a) for a in zip(*parts))
    if not len(x):
        return None
    mags = np.hypot(vx, vy)
    cell = min(np.sqrt(np.median(np.asarray(e[1].mesh.areas, float))) for e in group)
    ref = float(np.percentile(mags, 95)) or 1.0
    scale = ref / (0.9 * cell)  # data units per µm of arrow
    capped = np.minimum(1.0, ref / np.maximum(mags, 1e-30))
    return ax.quiver(x, y, vx * capped, vy * capped, mags, cmap=cmap, norm=norm, angles="xy", scale_units="xy",
                     scale=scale, width=0.004, pivot="middle")


def _view_extent(raster: RasterGrid, background: Background | None, region_title: str):
    """``(xmin, xmax, ymin, ymax)`` shown: the image (or the maps' raster), or the region's own cells."""
    if background is not None and not region_title:
        return background.grid.extent()
    return raster.extent()


def _imshow_extent(ext):
    x0, x1, y0, y1 = ext
    return (x0, x1, y1, y0)  # row 0 (smallest y) at the top, as in napari


def _scale_bar(ax, extent) -> None:
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = nice_length(extent[1] - extent[0])
    bar = AnchoredSizeBar(ax.transData, length, f"{length:g} µm", "lower right", pad=0.4, color="black",
                          frameon=True, size_vertical=(extent[3] - extent[2]) / 150, fontproperties={"size": 8})
    bar.patch.set_alpha(0.7)
    ax.add_artist(bar)
