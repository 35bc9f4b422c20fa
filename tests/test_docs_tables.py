"""The docs' parameter tables agree with their registries (python -m napari_tramway.docs_tables --write)."""

import shutil
import subprocess
import sys

import pytest

from napari_tramway import docs_tables


@pytest.mark.parametrize("file, name, registry", docs_tables.TABLES, ids=[t[1] for t in docs_tables.TABLES])
def test_docs_table_agrees_with_its_registry(file, name, registry):
    text = (docs_tables.DOCS / file).read_text(encoding="utf-8")
    found = docs_tables.region(name).findall(text)
    assert len(found) == 1, f"docs/{file}: one <!-- registry:{name} --> region expected"
    table = found[0][1]
    assert table == docs_tables.render(registry()), (
        f"docs/{file} ({name}) disagrees with its registry: run python -m napari_tramway.docs_tables --write")
    # every (entry, parameter) pair of the registry is in the table
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| `")}
    for entry in registry().values():
        for p in entry.parameters:
            assert f"`{p.name}`" in rows


def test_a_drifted_table_is_found_and_rewritten(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(docs_tables.DOCS, docs)
    meshes = docs / "meshes.md"
    meshes.write_text(meshes.read_text(encoding="utf-8").replace("| `tilt` | hexagon | float | 0.0 |",
                                                                 "| `tilt` | hexagon | float | 1.0 |"), encoding="utf-8")
    assert docs_tables.stale(docs) == [f"{meshes} (meshes)"]
    cmd = [sys.executable, "-m", "napari_tramway.docs_tables", "--docs", str(docs)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "meshes.md (meshes)" in r.stdout
    r = subprocess.run([*cmd, "--write"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "rewrote" in r.stdout
    assert docs_tables.stale(docs) == []
    assert (docs / "meshes.md").read_text(encoding="utf-8") == (docs_tables.DOCS / "meshes.md").read_text(encoding="utf-8")


def test_a_missing_region_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="registry:meshes"):
        docs_tables.replace_table("no markers here", "meshes", "| x |\n", "docs/meshes.md")
