"""Everything napari-tramway writes, opened as maps: what a path holds and its layer data.

* a result store (a directory with ``store.json``: what ``run`` writes, and the panel's results
  directory) → every done unit;
* an ``analyze`` output folder (``DIR/<file>/{<region>.csv, <region>.ntw, results/}``, or one of its
  ``<file>`` folders) → the result stores inside it;
* a ``.ntw`` file: one unit's result (``napari-tramway/unit-result``), a maps file
  (``napari-tramway/maps``, the "full result" of ``analyze``), a mesh or a tessellation (a Labels
  layer of cells), or a unit's input steps (``napari-tramway/steps``, a Tracks layer);
* a maps CSV (one row per cell: ``cell``, ``x``, ``y``, ``n``, ``diffusivity``…, as ``analyze`` and
  the maps writer write it) → the cells as Points at their centres, coloured by D, with every
  column as hover features (a CSV holds no mesh: no cell outlines).

:func:`units_of_path` gives the maps behind a path (for figures); :func:`layers_from_path` its layer
data (for the reader and "Open…" (open results)). No viewer, no Qt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .grids import ImageGrid
from .maps import METADATA_KEY, LayerData, layers_from_meshes, space_time

UNIT_RESULT = "napari-tramway/unit-result"
MAPS = "napari-tramway/maps"
MESHES = ("napari-tramway/mesh", "napari-tramway/tessellation")
STEPS = "napari-tramway/steps"
#: Columns that make a CSV a maps table (with ``cell`` and ``x``, ``y``).
MAP_COLUMNS = ("diffusivity", "potential", "force x", "drift x", "n")
#: How deep an ``analyze`` output folder is searched for result stores (``DIR/<file>/results``).
STORE_DEPTH = 2


def find_stores(path) -> list[Path]:
    """The result stores at or under ``path`` (itself, or ``<file>/results`` of an analyze output)."""
    p = Path(path)
    if (p / "store.json").is_file():
        return [p]
    if not p.is_dir():
        return []
    found: list[Path] = []
    level = [p]
    for _ in range(STORE_DEPTH):
        nxt = []
        for d in level:
            for child in sorted(d.iterdir()):
                if child.is_dir():
                    if (child / "store.json").is_file():
                        found.append(child)
                    else:
                        nxt.append(child)
        level = nxt
    return found


def archive_format(path) -> str | None:
    """The format name in a ``.ntw`` archive's header (None if it is not one)."""
    import json
    import zipfile

    from ..core.archive import META_MEMBER

    try:
        with zipfile.ZipFile(path) as zf:
            header = json.loads(zf.read(META_MEMBER).decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return header.get("format") if isinstance(header, dict) else None


def is_maps_csv(path) -> bool:
    """Whether a CSV file is a maps table (its header names ``cell``, ``x``, ``y`` and a map column)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return False
    cols = [c.strip().strip('"') for c in header.strip().split(",")]
    return "cell" in cols and "x" in cols and "y" in cols and any(c in cols for c in MAP_COLUMNS)


def kind_of_path(path) -> str | None:
    """``store``, ``stores`` (an analyze output), ``unit-result``, ``maps``, ``mesh``, ``steps``,
    ``maps-csv`` or None (not something napari-tramway wrote)."""
    p = Path(path)
    if p.is_dir():
        if (p / "store.json").is_file():
            return "store"
        return "stores" if find_stores(p) else None
    suffix = p.suffix.lower()
    if suffix == ".ntw":
        fmt = archive_format(p)
        return {UNIT_RESULT: "unit-result", MAPS: "maps", STEPS: "steps"}.get(fmt, "mesh" if fmt in MESHES else None)
    if suffix == ".csv" and p.is_file() and is_maps_csv(p):
        return "maps-csv"
    return None


def units_of_path(path) -> list[tuple[str, object, dict, str | None]]:
    """``(label, Maps, metadata, store)`` of every unit behind ``path`` (see the module docstring;
    a maps file without its store gets the metadata its maps know: model, mesh). Raises
    :class:`~napari_tramway.core.errors.ArchiveError` naming the file for anything else."""
    from ..core.errors import ArchiveError

    p = Path(path)
    kind = kind_of_path(p)
    if kind in ("store", "stores"):
        from ..pipeline.results import open_results

        out = []
        for store in find_stores(p):
            results = open_results(store)
            out += [(label, *results.unit(label), str(store)) for label in results.labels()]
        if not out:
            raise ArchiveError(f"{p}: holds no finished unit yet")
        return out
    if kind == "unit-result":
        from ..core.archive import read_archive
        from ..core.maps import Maps

        arrays, meta, _ = read_archive(p, UNIT_RESULT)
        try:
            maps = Maps.from_arrays(arrays, meta["maps"])
        except KeyError as exc:
            raise ArchiveError(f"{p}: incomplete unit result (missing {exc.args[0]!r})") from None
        store = next((str(d) for d in p.resolve().parents if (d / "store.json").is_file()), None)
        return [((meta.get("unit") or {}).get("label") or p.stem, maps, meta, store)]
    if kind == "maps":
        from ..core.maps import Maps

        maps = Maps.load(p)
        return [(f"{p.parent.name}/{p.stem}", maps, maps_meta(maps, p), str(p.parent))]
    raise ArchiveError(f"{p}: not a napari-tramway result (a results directory, an analyze output folder, "
                       "a unit's .ntw or a maps .ntw)")


def maps_meta(maps, path: Path) -> dict:
    """The metadata a maps file without its store can have: its settings, as a spec fragment."""
    mesh = maps.mesh
    return {"spec": {"mesh": {"method": mesh.method, "parameters": dict(mesh.parameters or {})},
                     "model": {"name": maps.model, "parameters": {}}},
            "software": "napari-tramway", "source": str(path)}


def layers_from_path(path, image_grid: ImageGrid | None = None) -> list[LayerData]:
    """The layer data of anything napari-tramway writes (see the module docstring)."""
    from ..core.errors import ArchiveError

    p = Path(path)
    kind = kind_of_path(p)
    if kind == "mesh":
        from ..core.meshes import load_mesh

        mesh, _ = load_mesh(p)
        return layers_from_meshes([mesh], None, image_grid, name=f"cells · {p.stem}",
                                  metadata={"key": f"mesh|{p}", "source": str(p)})
    if kind == "steps":
        return [steps_layer(p)]
    if kind == "maps-csv":
        return [maps_csv_layer(p)]
    if kind is None:
        raise ArchiveError(f"{p}: not a napari-tramway result")
    from .results import layers_from_units

    units = units_of_path(p)
    if kind in ("maps", "unit-result"):  # one unit: its layers name its region
        from .results import layers_from_maps

        label, maps, meta, store = units[0]
        return layers_from_maps(maps, image_grid, meta=meta, store=store)
    by_store: dict = {}
    for label, maps, meta, store in units:
        by_store.setdefault(store, []).append((label, maps, meta))
    out: list[LayerData] = []
    for store, loaded in by_store.items():
        name = Path(store).parent.name if store and Path(store).name == "results" else None
        out += layers_from_units(loaded, image_grid, store=store, run_name=name)
    return out


def steps_layer(path) -> LayerData:
    """A unit's input steps (``napari-tramway/steps``) as a Tracks layer (µm, s)."""
    import pandas as pd

    from ..core.archive import read_archive
    from .data import tracks_from_locations

    arrays, meta, _ = read_archive(path, STEPS)
    loc = pd.DataFrame({k: arrays[k] for k in ("n", "x", "y", "t")})
    loc.attrs["frame_interval"] = (meta.get("acquisition") or {}).get("frame_interval")  # napari's time axis
    return tracks_from_locations(loc, name=f"steps · {Path(path).stem}", path=None)


def maps_csv_layer(path) -> LayerData:
    """A maps CSV as Points at the cell centres: size from the cells' spacing, colour by log₁₀ D
    (else the first map column), every column as a feature named with its unit."""
    import pandas as pd

    from ..core.errors import ArchiveError
    from .colour import feature_name, quantity

    p = Path(path)
    try:
        table = pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{p}: unreadable maps table ({exc})") from None
    xy = table[["x", "y"]].to_numpy(float)
    column = next((c for c in ("diffusivity", "potential", "n") if c in table.columns), None)
    size = 1.0
    if len(xy) > 1:
        from scipy.spatial import cKDTree

        d, _ = cKDTree(xy).query(xy, k=2)
        size = float(np.median(d[:, 1]))
    kwargs = {"name": f"cells · {p.stem}", "size": size, "features": table.rename(columns=feature_name),
              **space_time(False), "metadata": {METADATA_KEY: {"kind": "cell-points", "key": f"csv|{p}",
                                                               "source": str(p)}}}
    if column is not None:
        q = quantity(column)
        values = q.values(table[column].to_numpy(float))
        feature = f"{q.title} (colour)"
        kwargs["features"][feature] = values
        kwargs["face_color"] = feature
        kwargs["face_colormap"] = q.colormap
        kwargs["border_width"] = 0
        kwargs["metadata"][METADATA_KEY]["title"] = q.title
    return (xy[:, ::-1], kwargs, "points")
