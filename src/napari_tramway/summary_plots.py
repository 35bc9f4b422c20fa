"""Figures of a run's summary: per map quantity, the conditions side by side.

For each quantity one panel: per condition a violin of the per-cell values (a kernel density
weighted by each cell's translocation count, on a log scale for the diffusivity), one point per
replicate (a data file: the weighted median of its cells) and a bar at the condition's centre
(the geometric mean of its files for the diffusivity, the mean otherwise); the axis gives the
unit, the title the comparison and its bootstrap interval when there is one
(:mod:`napari_tramway.pipeline.compare`). ``potential depth`` (one value per unit) shows its
units as small dots instead of a violin.

matplotlib is imported when a figure is made (object-oriented API, no pyplot: figures can be
drawn in any thread). ``napari-tramway summary RUN --figure out.png`` and the napari Results panel
use :func:`summary_figure`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

FORMATS = ("png", "svg", "pdf")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def summary_figure(cells, summary=None, *, by: str = "condition", replicate: str = "file", quantities=None,
                   comparisons=None, order=None, columns: int | None = None, width: float = 3.2, height: float = 3.6,
                   dpi: int = 100):
    """A matplotlib ``Figure``: one panel per quantity present in ``cells`` (per-cell values from
    :func:`~napari_tramway.pipeline.summary.cell_values`) and ``potential depth`` when ``summary``
    has it; ``comparisons`` (:class:`~napari_tramway.pipeline.compare.Comparison` s) title them.
    Conditions are shown in ``order`` (default: the reference then the other of ``comparisons``,
    else as met). Panels go in ``columns`` columns (default: one row); each is ``width`` × ``height`` inches.
    Without the label ``by`` every unit is in one group, ``all``."""
    from matplotlib.figure import Figure

    from .pipeline.summary import DEPTH, DEPTH_COLUMN, QUANTITIES

    names = list(quantities) if quantities else [q for q in QUANTITIES if q in cells.columns and cells[q].notna().any()]
    if quantities is None and summary is not None and DEPTH_COLUMN in summary.columns and summary[DEPTH_COLUMN].notna().any():
        names.append(DEPTH.name)
    titles = {c.quantity: c for c in (comparisons or [])}
    if order is None and comparisons:
        order = [comparisons[0].reference, comparisons[0].other]
    ncols = max(1, min(columns or len(names), len(names)))
    nrows = -(-max(1, len(names)) // ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), dpi=dpi, layout="constrained")
    if not names:
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no finished unit yet", ha="center", va="center", color="0.4")
        return fig
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes, names):
        if name == DEPTH.name:
            _panel(ax, summary, DEPTH, DEPTH_COLUMN, by, replicate, titles.get(name), order, per_unit=True)
        else:
            _panel(ax, cells, QUANTITIES[name], name, by, replicate, titles.get(name), order, per_unit=False)
    return fig


def _groups(data, by, order=None):
    if by in data.columns and data[by].notna().any():
        data = data[data[by].notna()]
        values = [str(v) for v in data[by].drop_duplicates()]
        if order:
            values = [v for v in order if v in values] + [v for v in values if v not in order]
        return [(v, data[data[by].astype(str) == v]) for v in values]
    return [("all", data)]


def _panel(ax, data, q, column, by, replicate, comparison, order, per_unit: bool):
    from .pipeline.summary import WEIGHT, weighted_quantile

    log = q.scale == "log"
    groups = _groups(data, by, order)
    for k, (name, g) in enumerate(groups):
        colour = COLOURS[k % len(COLOURS)]
        v = g[column].to_numpy(dtype=float)
        w = np.ones_like(v) if per_unit else g[WEIGHT].to_numpy(dtype=float)
        ok = np.isfinite(v) & (w > 0) & ((v > 0) if log else True)
        v, w = v[ok], w[ok]
        if per_unit:
            ax.scatter(k + _spread(len(v), 0.3), v, s=8, color=colour, alpha=0.5, linewidths=0)
        else:
            _violin(ax, k, v, w, log, colour)
        reps = []
        key = replicate if replicate in g.columns else None
        for _, r in (g.groupby(key, sort=False) if key else [(None, g)]):
            rv = r[column].to_numpy(dtype=float)
            rw = np.ones_like(rv) if per_unit else r[WEIGHT].to_numpy(dtype=float)
            rok = np.isfinite(rv) & (rw > 0)
            if rok.any():
                reps.append(float(np.median(rv[rok])) if per_unit else weighted_quantile(rv[rok], rw[rok], 0.5))
        reps = np.asarray(reps, dtype=float)
        if reps.size:
            ax.scatter(k + _spread(reps.size, 0.18), reps, s=36, facecolor="white", edgecolor=colour, linewidths=1.6,
                       zorder=3, label=f"{name}: {reps.size} {replicate}s")
            good = reps[reps > 0] if log else reps
            if good.size:
                centre = float(np.exp(np.mean(np.log(good)))) if log else float(np.mean(good))
                ax.hlines(centre, k - 0.3, k + 0.3, color=colour, linewidth=2.2, zorder=4)
    ax.set_xticks(range(len(groups)), [n for n, _ in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    if log:
        _log_axis(ax)
    ax.set_ylabel(f"{q.name} [{q.unit}]" if q.unit else q.name)
    centre = "geometric mean" if log else "mean"
    ax.set_xlabel(f"○ {replicate} ({'median of its units' if per_unit else 'weighted median'}); — {centre}",
                  fontsize=7, color="0.35")
    title = q.name + ("\n(one dot per unit)" if per_unit else "")
    if comparison is not None:
        op = "/" if comparison.effect == "ratio" else "−"
        title = (f"{q.name}: {comparison.other} {op} {comparison.reference}\n= {comparison.estimate:.3g}, "
                 f"{100 * comparison.confidence:.0f} % CI [{comparison.low:.3g}, {comparison.high:.3g}]")
    ax.set_title(title, fontsize=8.5)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, loc="best", frameon=False)


def _log_axis(ax) -> None:
    """A log y axis whose ticks read as plain numbers (0.08, 0.1, 0.12), minor ones too when the
    data span less than a decade and a half."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    plain = FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if hi / lo < 10 ** 1.5 else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _spread(n: int, half: float) -> np.ndarray:
    """Evenly spread x offsets in [−half, half] (deterministic jitter)."""
    return np.zeros(1) if n == 1 else np.linspace(-half, half, n)


def _violin(ax, pos, values, weights, log, colour, half_width: float = 0.38):
    """A translocation-weighted kernel density of ``values``, drawn around x = ``pos``."""
    from scipy.stats import gaussian_kde

    from .pipeline.summary import weighted_quantile

    x = np.log10(values) if log else values
    if x.size < 2 or np.ptp(x) == 0:
        if x.size:
            ax.scatter([pos], [values[0]], marker="_", s=200, color=colour)
        return
    lo, hi = weighted_quantile(x, weights, [0.005, 0.995])
    pad = 0.1 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 200)
    try:
        density = gaussian_kde(x, weights=weights)(grid)
    except np.linalg.LinAlgError:  # all the weight on one value
        return
    density = half_width * density / density.max()
    y = 10 ** grid if log else grid
    ax.fill_betweenx(y, pos - density, pos + density, color=colour, alpha=0.28, linewidth=0)
    ax.plot(pos - density, y, color=colour, linewidth=0.8)
    ax.plot(pos + density, y, color=colour, linewidth=0.8)


def save_figure(fig, path) -> Path:
    """Write ``fig`` to ``path`` as PNG, SVG or PDF (from its extension), atomically."""
    from .core.archive import atomic_write

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown figure format {path.suffix or '(none)'}; use .png, .svg or .pdf")
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=150 if fmt == "png" else None)
    return path


def figure_png(fig, dpi: int | None = None) -> bytes:
    """The figure as PNG bytes (for a Qt pixmap)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


def render_comparisons(store, spec, table, *, by: str = "condition", reference: str | None = None,
                       replicate: str = "file", columns: int = 2, width: float = 2.6, height: float = 3.0,
                       dpi: int = 100, n_resamples: int = 1999, seed=0):
    """What a view of a run's summary shows besides its ``table`` (:func:`refresh_summary`'s), computed
    in the caller's thread: the per-cell values, the two values of ``by`` compared when it has two
    (``reference``: one of them; default: the first in alphabetical order) and the figure. Returns
    ``(comparisons, notes, png bytes)``; ``notes`` are one-line reasons why a quantity was not
    compared."""
    from .pipeline import compare, summary

    cells = summary.cell_values(store, spec)
    comparisons, notes = [], []
    values = compare.conditions_of(cells, by) if by in cells.columns else []
    if len(values) == 2:
        values = sorted(values)
        if reference in values:
            values = [reference] + [v for v in values if v != reference]
        data = {name: cells for name in summary.QUANTITIES if name in cells.columns and cells[name].notna().any()}
        if summary.DEPTH_COLUMN in table.columns and table[summary.DEPTH_COLUMN].notna().any():
            data[summary.DEPTH.name] = table
        for name, d in data.items():
            try:
                comparisons.append(compare.compare(d, name, *values, by=by, replicate=replicate,
                                                   n_resamples=n_resamples, seed=seed))
            except compare.ComparisonError as exc:
                notes.append(f"{name}: not compared: {exc}")
    elif by in cells.columns:
        notes.append(f"{by} has {len(values)} value(s) ({', '.join(values)}): two are compared")
    fig = summary_figure(cells, table, by=by, replicate=replicate, comparisons=comparisons, columns=columns,
                         width=width, height=height, dpi=dpi)
    return comparisons, notes, figure_png(fig)
