"""Maps: save / load round trip with the mesh, embedding, CSV export, corrupt files."""

import zipfile

import numpy as np
import pandas as pd
import pytest
from _mesh_helpers import hexagon_mesh, nearest_assignment

from napari_tramway.core.archive import read_archive, write_archive
from napari_tramway.core.errors import ArchiveError
from napari_tramway.core.maps import COLUMN_ORDER, Maps, column_unit
from napari_tramway.core.models import fit
from napari_tramway.core.simulate import WALK_ACQUISITION as ACQ
from napari_tramway.core.simulate import standard_dataset
from napari_tramway.core.trajectories import translocations


@pytest.fixture(scope="module")
def maps():
    loc, _ = standard_dataset(8000, seed=2)
    steps = translocations(loc)
    mesh = hexagon_mesh((0, 0, 10, 10), 2.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    return fit("dv", mesh, a, steps, ACQ, diffusivity_prior=1.0, potential_prior=1.0)


def _same(a: Maps, b: Maps):
    pd.testing.assert_frame_equal(a.table, b.table)
    assert np.array_equal(a.mesh.centres, b.mesh.centres)
    assert (a.mesh.adjacency != b.mesh.adjacency).nnz == 0
    assert np.array_equal(a.mesh.areas, b.mesh.areas)
    assert all(np.array_equal(p, q) for p, q in zip(a.mesh.polygons, b.mesh.polygons))
    assert a.mesh.method == b.mesh.method
    for attr in ("model", "status", "iterations", "message"):
        assert getattr(a, attr) == getattr(b, attr)
    assert a.runtime == pytest.approx(b.runtime) and a.objective == pytest.approx(b.objective)
    assert a.parameters == b.parameters
    assert a.info["uncertainty"] == b.info["uncertainty"]


def test_table_layout(maps):
    t = maps.table
    assert t.index.name == "cell"
    present = [c for c in COLUMN_ORDER if c in t.columns]
    assert list(t.columns) == present
    assert t["isolated"].dtype == bool and t["n"].dtype == np.int64
    assert maps.features == ("diffusivity", "force", "potential")
    assert "potential sd" in maps.columns and "x" not in maps.columns and "isolated" not in maps.columns
    assert column_unit("diffusivity sd") == "µm²/s" and column_unit("force y") == "kT/µm"
    assert column_unit("potential") == "kT"
    assert "Maps(model='dv'" in repr(maps)


def test_save_load_round_trip(maps, tmp_path):
    path = maps.save(tmp_path / "unit.maps")
    loaded = Maps.load(path)
    _same(maps, loaded)
    _, _, version = read_archive(path)
    assert version == 1


def test_embed_in_another_archive(maps, tmp_path):
    arrays, meta = maps.to_arrays(prefix="result/maps/")
    arrays["result/other"] = np.arange(3)
    path = write_archive(tmp_path / "store.zip", "someone-else/result", 3, arrays, {"maps": meta, "note": "x"})
    arrays2, meta2, _ = read_archive(path)
    _same(maps, Maps.from_arrays(arrays2, meta2["maps"], prefix="result/maps/"))


def test_csv_columns(maps, tmp_path):
    path = maps.to_csv(tmp_path / "maps.csv")
    df = pd.read_csv(path)
    assert list(df.columns) == ["cell"] + list(maps.table.columns)
    assert {"diffusivity", "force x", "force y", "potential", "x", "y", "n"} <= set(df.columns)
    assert len(df) == int(maps.fitted.sum())
    assert np.allclose(df["diffusivity"], maps["diffusivity"][maps.fitted])
    full = pd.read_csv(maps.to_csv(tmp_path / "all.csv", include_empty=True))
    assert len(full) == len(maps.table)


def test_truncated_or_corrupt_file_raises(maps, tmp_path):
    path = maps.save(tmp_path / "good.maps")
    raw = path.read_bytes()
    truncated = tmp_path / "truncated.maps"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArchiveError):
        Maps.load(truncated)
    corrupt = tmp_path / "corrupt.maps"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("maps/column/003.npy")
    data = bytearray(raw)
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + 5
    data[pos] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        Maps.load(corrupt)
    with pytest.raises(ArchiveError):
        Maps.load(tmp_path / "missing.maps")


def test_wrong_format_or_inconsistent_content_raises(maps, tmp_path):
    arrays, meta = maps.to_arrays()
    other = write_archive(tmp_path / "mesh.zip", "napari-tramway/mesh", 1, arrays, meta)
    with pytest.raises(ArchiveError, match="expected"):
        Maps.load(other)
    newer = write_archive(tmp_path / "newer.maps", "napari-tramway/maps", 2, arrays, meta)
    with pytest.raises(ArchiveError, match="newer"):
        Maps.load(newer)
    broken = dict(arrays)
    del broken["maps/column/002.npy" if "maps/column/002.npy" in broken else "maps/column/002"]
    bad = write_archive(tmp_path / "bad.maps", "napari-tramway/maps", 1, broken, meta)
    with pytest.raises(ArchiveError):
        Maps.load(bad)
    short = dict(arrays)
    short["maps/column/000"] = short["maps/column/000"][:-1]
    with pytest.raises(ArchiveError):
        Maps.from_arrays(short, meta)
