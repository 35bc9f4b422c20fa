"""The core must import with only numpy, scipy, pandas and shapely (it runs inside cluster containers)."""

import subprocess
import sys
import textwrap

BLOCKED = ["napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "paramiko", "vispy", "skimage"]


def test_core_imports_without_gui_or_ssh_packages():
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        BLOCKED = {BLOCKED!r}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in BLOCKED:
                    raise ImportError('blocked for this test: ' + name)
                return None
        sys.meta_path.insert(0, Blocker())
        import napari_tramway.core as core
        names = []
        for mod in pkgutil.walk_packages(core.__path__, 'napari_tramway.core.'):
            importlib.import_module(mod.name)
            names.append(mod.name)
        import napari_tramway
        napari_tramway.read_trajectories
        leaked = [m for m in sys.modules if m.split('.')[0] in BLOCKED]
        assert not leaked, leaked
        print(len(names))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) >= 3


def test_no_forbidden_import_statements_in_core():
    import pathlib

    import napari_tramway.core as core

    root = pathlib.Path(core.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            s = line.strip()
            if s.startswith(("import ", "from ")):
                mod = s.split()[1].split(".")[0]
                if mod in BLOCKED:
                    offenders.append(f"{path}:{lineno}: {s}")
    assert not offenders, offenders


def test_reading_the_registries_stays_light():
    # spec validation, forms and CLI help read MODELS and MESHES: they must not pay for the
    # fits' and the meshes' numerics (scipy.optimize, scipy.spatial) nor for pandas
    code = textwrap.dedent(
        """
        import sys
        from napari_tramway.core.models import MODELS
        from napari_tramway.core.meshes import ASSIGNMENT_PARAMETERS, MESHES, validate_mesh_parameters
        from napari_tramway.core import roi
        MODELS["dv"].validate({"potential_prior": 1.0})
        validate_mesh_parameters("kmeans", {"resolution": 1.0, "knn": [5, 10]})
        heavy = [m for m in ("scipy.optimize", "scipy.spatial", "scipy.special", "pandas") if m in sys.modules]
        assert not heavy, heavy
        import napari_tramway.core.meshes as meshes, napari_tramway.core.models as models
        for package in (meshes, models):
            for name in package.__all__:
                assert getattr(package, name) is not None, name
        assert callable(models.fit) and callable(meshes.assign) and meshes.Mesh.__name__ == "Mesh"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
