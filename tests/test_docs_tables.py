"""The docs' parameter tables agree with their registries (python -m napari_tramway.cli.docs_tables --write)."""

import shutil
import subprocess
import sys

import pytest

from napari_tramway.cli import docs_tables


@pytest.mark.parametrize("file, name, table", docs_tables.TABLES, ids=[t[1] for t in docs_tables.TABLES])
def test_docs_table_agrees_with_its_registry(file, name, table):
    text = (docs_tables.DOCS / file).read_text(encoding="utf-8")
    found = docs_tables.region(name).findall(text)
    assert len(found) == 1, f"docs/{file}: one <!-- registry:{name} --> region expected"
    assert found[0][1] == docs_tables.render(table), (
        f"docs/{file} ({name}) disagrees with its registry: run python -m napari_tramway.cli.docs_tables --write")


@pytest.mark.parametrize("kind", ["meshes", "models"])
def test_every_parameter_of_every_entry_is_in_its_table(kind):
    from napari_tramway.core.meshes import MESHES
    from napari_tramway.core.models import MODELS

    registry = {"meshes": MESHES, "models": MODELS}[kind]
    text = (docs_tables.DOCS / f"{kind}.md").read_text(encoding="utf-8")
    rows = [line for line in docs_tables.region(kind).findall(text)[0][1].splitlines() if line.startswith("| `")]
    for entry in registry.values():
        for p in entry.parameters:
            row = [r for r in rows if r.startswith(f"| `{p.name}` |") and f"| {p.default!r} |" in r]
            takers = [set(r.split("|")[2].strip().split(", ")) for r in row]
            assert any(t == {"all"} or entry.name in t for t in takers), (entry.name, p.name)


def test_a_drifted_table_is_found_and_rewritten(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(docs_tables.DOCS, docs)
    meshes = docs / "meshes.md"
    meshes.write_text(meshes.read_text(encoding="utf-8").replace("| `tilt` | hexagon | float | 0.0 |",
                                                                 "| `tilt` | hexagon | float | 1.0 |"), encoding="utf-8")
    assert docs_tables.stale(docs) == [f"{meshes} (meshes)"]
    cmd = [sys.executable, "-m", "napari_tramway.cli.docs_tables", "--docs", str(docs)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "meshes.md (meshes)" in r.stdout
    r = subprocess.run([*cmd, "--write"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "rewrote" in r.stdout
    assert docs_tables.stale(docs) == []
    assert (docs / "meshes.md").read_text(encoding="utf-8") == (docs_tables.DOCS / "meshes.md").read_text(encoding="utf-8")


def test_a_missing_region_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="registry:meshes"):
        docs_tables.replace_table("no markers here", "meshes", "| x |\n", "docs/meshes.md")
