"""The result of a model fit: per-cell maps kept together with the mesh they live on.

A :class:`Maps` holds the :class:`~napari_tramway.core.meshes.base.Mesh` and a ``pandas.DataFrame``
indexed by cell id (``cell``, 0..K−1, every cell of the mesh) with these columns, when present:

========================  ===========  =====================================================
column                    unit         meaning
========================  ===========  =====================================================
``x``, ``y``              µm           cell centre
``n``                     —            steps (translocations) assigned to the cell
``diffusivity``           µm²/s        D
``drift x``, ``drift y``  µm/s         drift a (model dd)
``force x``, ``force y``  kT/µm        force F/kT (models df, dv)
``potential``             kT           effective potential V/kT (dv), min 0 per connected component
``<column> sd``           (column's)   posterior standard deviation (Laplace), e.g. ``diffusivity sd``
``diffusivity ci low``,   µm²/s        exact 95 % credible interval of D (model d, per cell)
``diffusivity ci high``
``isolated``              bool         the cell has steps but no neighbour with steps: no smoothing
                                       prior reaches it and (dv) its potential and force are NaN
``incomplete gradient``   bool         grad1 found no neighbour on either side of one axis: that
                                       component of the gradient is 0 (dv force, grad1 priors)
``few steps``             bool         fewer steps than the model's ``min_steps`` (default 20): still
                                       estimated, but below the range where the intervals are validated
========================  ===========  =====================================================

Cells without any step keep their row with ``n = 0`` and NaN estimates (so that
``table[column].to_numpy()[cell_id]`` maps straight onto the mesh); :meth:`Maps.to_csv` leaves
them out unless asked. Saved with :mod:`napari_tramway.core.archive` (format
``napari-tramway/maps``, version 1, no pickle), the mesh included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .archive import atomic_write, read_archive, write_archive
from .errors import ArchiveError
from .meshes.base import Mesh

MAPS_FORMAT = "napari-tramway/maps"
MAPS_VERSION = 1

#: Vector and scalar features and their columns, in display order.
FEATURES = {
    "diffusivity": ("diffusivity",),
    "drift": ("drift x", "drift y"),
    "force": ("force x", "force y"),
    "potential": ("potential",),
}

UNITS = {
    "x": "µm", "y": "µm", "n": "", "diffusivity": "µm²/s", "drift": "µm/s", "force": "kT/µm",
    "potential": "kT",
}

#: Canonical column order of a maps table.
COLUMN_ORDER = (
    "x", "y", "n", "diffusivity", "drift x", "drift y", "force x", "force y", "potential",
    "diffusivity sd", "diffusivity ci low", "diffusivity ci high", "drift x sd", "drift y sd",
    "force x sd", "force y sd", "potential sd", "isolated", "incomplete gradient", "few steps",
)
FLAG_COLUMNS = ("isolated", "incomplete gradient", "few steps")
_GEOMETRY = ("x", "y", "n")


def column_unit(column: str) -> str:
    """Unit of a maps column (``'diffusivity sd'`` → ``'µm²/s'``)."""
    if column in FLAG_COLUMNS:
        return ""
    for suffix in (" sd", " ci low", " ci high"):
        if column.endswith(suffix):
            column = column[: -len(suffix)]
    if column in UNITS:
        return UNITS[column]
    for feature, cols in FEATURES.items():
        if column in cols:
            return UNITS[feature]
    return ""


@dataclass
class Maps:
    """Per-cell maps of one model fit, with the mesh.

    Attributes
    ----------
    mesh : Mesh
    table : DataFrame
        Indexed by cell id (index name ``cell``), one row per mesh cell; columns as in the module doc.
    model : str
        Registry name of the model (``d``, ``dd``, ``df``, ``dv``).
    parameters : dict
        Resolved parameters (``sigma`` and ``min_diffusivity`` as actually used).
    status : str
        ``converged``, ``max_iter``, ``interrupted`` (cancelled: the last iterate), ``failed``
        (the optimizer stopped far from a stationary point) or ``empty`` (no step to fit).
    iterations : int
        Optimizer iterations (0 for closed forms).
    runtime : float
        Seconds spent in the fit, statistics included.
    objective : float
        Final value of the minimised objective (NLL + priors), NaN when nothing was fitted.
    message : str
        The optimizer's message, if any.
    info : dict
        JSON-serialisable details (σ source, uncertainty method, evaluations, Δt groups...).
    """

    mesh: Mesh
    table: pd.DataFrame
    model: str
    parameters: dict = field(default_factory=dict)
    status: str = "converged"
    iterations: int = 0
    runtime: float = 0.0
    objective: float = math.nan
    message: str = ""
    info: dict = field(default_factory=dict)

    # -- views ---------------------------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        """Value columns present (estimates and uncertainties; not x, y, n or flags)."""
        return tuple(c for c in self.table.columns if c not in _GEOMETRY and c not in FLAG_COLUMNS)

    @property
    def features(self) -> tuple[str, ...]:
        """Features present: among ``diffusivity``, ``drift``, ``force``, ``potential``."""
        return tuple(f for f, cols in FEATURES.items() if all(c in self.table.columns for c in cols))

    def feature_columns(self, feature: str) -> tuple[str, ...]:
        return FEATURES[feature]

    @property
    def fitted(self) -> np.ndarray:
        """(K,) bool: cells with at least one step."""
        return self.table["n"].to_numpy() > 0

    def __getitem__(self, column: str) -> np.ndarray:
        return self.table[column].to_numpy()

    def __repr__(self) -> str:
        return (f"Maps(model={self.model!r}, cells={len(self.table)}, fitted={int(self.fitted.sum())}, "
                f"columns={list(self.columns)}, status={self.status!r}, iterations={self.iterations}, "
                f"runtime={self.runtime:.3g}s)")

    # -- persistence ---------------------------------------------------------------------
    def to_arrays(self, prefix: str = "maps/") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata describing these maps and their mesh (embeddable in another archive)."""
        arrays = {prefix + "index": self.table.index.to_numpy(dtype=np.int64)}
        columns = []
        for i, name in enumerate(self.table.columns):
            values = self.table[name].to_numpy()
            if values.dtype.kind not in "biuf":
                raise TypeError(f"maps column {name!r} has dtype {values.dtype}; only numbers and booleans")
            arrays[f"{prefix}column/{i:03d}"] = values
            columns.append(str(name))
        mesh_arrays, mesh_meta = self.mesh.to_arrays(prefix=prefix + "mesh/")
        arrays.update(mesh_arrays)
        meta = {
            "layout_version": MAPS_VERSION, "model": self.model, "parameters": _plain(self.parameters),
            "status": self.status, "iterations": int(self.iterations), "runtime": float(self.runtime),
            "objective": _float_or_none(self.objective), "message": self.message, "info": _plain(self.info),
            "columns": columns, "mesh": mesh_meta,
        }
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str = "maps/") -> Maps:
        """Rebuild from :meth:`to_arrays` output; raise :class:`ArchiveError` if inconsistent."""
        try:
            mesh = Mesh.from_arrays(arrays, meta["mesh"], prefix=prefix + "mesh/")
            index = np.asarray(arrays[prefix + "index"])
            data = {}
            for i, name in enumerate(meta["columns"]):
                values = np.asarray(arrays[f"{prefix}column/{i:03d}"])
                if values.shape != index.shape:
                    raise ValueError(f"column {name!r} has {values.shape[0]} rows, index {index.shape[0]}")
                data[name] = values
            table = pd.DataFrame(data, index=pd.Index(index, name="cell"))
            if len(table) != mesh.n_cells:
                raise ValueError(f"{len(table)} rows for a mesh of {mesh.n_cells} cells")
            objective = meta.get("objective")
            return cls(mesh=mesh, table=table, model=str(meta["model"]), parameters=dict(meta.get("parameters", {})),
                       status=str(meta.get("status", "converged")), iterations=int(meta.get("iterations", 0)),
                       runtime=float(meta.get("runtime", 0.0)),
                       objective=math.nan if objective is None else float(objective),
                       message=str(meta.get("message", "")), info=dict(meta.get("info", {})))
        except ArchiveError:
            raise
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise ArchiveError(f"maps arrays are incomplete or inconsistent ({type(exc).__name__}: {exc})") from None

    def save(self, path) -> Path:
        """Write to ``path`` atomically (format ``napari-tramway/maps`` v1, mesh included)."""
        arrays, meta = self.to_arrays()
        return write_archive(path, MAPS_FORMAT, MAPS_VERSION, arrays, meta)

    @classmethod
    def load(cls, path) -> Maps:
        """Read maps saved by :meth:`save`; raise :class:`ArchiveError` on a bad or truncated file."""
        arrays, meta, _ = read_archive(path, fmt=MAPS_FORMAT, max_version=MAPS_VERSION)
        try:
            return cls.from_arrays(arrays, meta)
        except ArchiveError as exc:
            raise ArchiveError(f"{path}: {exc}") from None

    def to_csv(self, path, include_empty: bool = False) -> Path:
        """Write the table as CSV (index column ``cell``, TRamWAy's column names).

        Cells without steps are left out unless ``include_empty``. The file is replaced atomically.
        """
        path = Path(path)
        table = self.table if include_empty else self.table[self.fitted]
        with atomic_write(path) as fh:
            table.to_csv(fh, index=True, index_label="cell")
        return path


def _float_or_none(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _plain(obj):
    """JSON-friendly copy (numpy scalars to Python, tuples to lists, non-finite floats to None)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _float_or_none(obj)
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    return obj
