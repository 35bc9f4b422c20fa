"""The worker's container: the Apptainer definition file (parsed: sections, the exact version, the
wheel, only the worker's packages, pinned), ``napari-tramway container build`` (a real wheel of this
checkout; ``apptainer build`` when there is one, else the commands), and ``check-site`` comparing
the version in the image with this computer's on the REAL test cluster. Apptainer cannot be
installed here: the cluster's ``apptainer``/``singularity`` is the test cluster's STAND-IN, whose
images are JSON files naming what runs (here: napari-tramway installed from the wheel built here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from cluster_helpers import make_spec

from napari_tramway import Analysis, __version__
from napari_tramway.analysis import container_recipe
from napari_tramway.environments.slurm import SiteCheckFailed
from napari_tramway.pipeline.requirements import WORKER_PACKAGES

CLI = [sys.executable, "-m", "napari_tramway.cli"]
SECTIONS = {"labels", "files", "post", "environment", "runscript", "test", "help"}


def parse_definition(text: str) -> tuple[dict, dict]:
    """An Apptainer definition file: ``(header, {section: [lines]})`` (comments and blank lines out)."""
    header, sections, current = {}, {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^%(\w+)\s*$", line)
        if m:
            current = m.group(1)
            assert current not in sections, f"section %{current} twice"
            sections[current] = []
        elif current is None:
            key, sep, value = line.partition(":")
            assert sep, f"not a header line: {line!r}"
            header[key.strip()] = value.strip()
        else:
            sections[current].append(line.strip())
    return header, sections


def test_recipe_installs_the_exact_version_and_only_the_worker(tmp_path):
    wheel = f"napari_tramway-{__version__}-py3-none-any.whl"
    header, sections = parse_definition(container_recipe(wheel))
    assert header == {"Bootstrap": "docker", "From": f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim-bookworm"}
    assert set(sections) == SECTIONS
    labels = dict(line.split(None, 1) for line in sections["labels"])
    assert labels["org.napari-tramway.version"] == __version__
    assert sections["files"] == [f"{wheel} /opt/napari-tramway/{wheel}"]
    post = sections["post"]
    pins = [f"{name}=={metadata.version(name)}" for name in WORKER_PACKAGES]
    assert f"python3 -m pip install {' '.join(pins)}" in post  # the worker's packages, at this computer's versions
    assert any(p.startswith("shapely==") for p in pins)  # the ROI geometry (core.roi) runs in the image too
    assert f"python3 -m pip install --no-deps /opt/napari-tramway/{wheel}" in post  # without napari, Qt, paramiko
    assert any(f"n.__version__ == '{__version__}'" in line for line in post)  # the build fails on another version
    assert not re.search(r"napari(?![-_]tramway)|qt|paramiko|magicgui", " ".join(post), re.I)
    assert sections["runscript"] == ['exec python3 -s -m napari_tramway.pipeline.worker "$@"']
    # the released version from PyPI instead of a wheel, on another base image
    header, sections = parse_definition(container_recipe(None, base="docker://python:3.12-slim"))
    assert header["From"] == "python:3.12-slim" and "files" not in sections
    assert f"python3 -m pip install --no-deps napari-tramway=={__version__}" in sections["post"]


@pytest.fixture(scope="session")
def worker_wheel(tmp_path_factory):
    """``container build --dry-run``: the wheel of this checkout and the recipe (one build per session)."""
    out = tmp_path_factory.mktemp("container")
    r = subprocess.run(CLI + ["container", "build", str(out), "--dry-run"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r.stdout


@pytest.mark.slow
def test_container_build_writes_the_wheel_and_the_recipe(worker_wheel, tmp_path):
    out, stdout = worker_wheel
    wheel = out / f"napari_tramway-{__version__}-py3-none-any.whl"
    definition = out / f"napari-tramway-{__version__}.def"
    assert wheel.is_file() and definition.is_file()
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(f"napari_tramway-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in meta
    # the worker, and the recipe's template (so that an installed napari-tramway can write it too)
    assert {"napari_tramway/pipeline/worker.py", "napari_tramway/environments/container/napari-tramway.def"} <= names
    _, sections = parse_definition(definition.read_text())
    assert sections["files"] == [f"{wheel.name} /opt/napari-tramway/{wheel.name}"]
    assert f"    cd {out}\n    apptainer build napari-tramway-{__version__}.sif {definition.name}\n" in stdout
    # nothing built in the checkout
    assert not (Path(__file__).parents[2] / "build").exists()
    # no apptainer or singularity: the commands to run elsewhere, and success
    env = dict(os.environ, PATH="/usr/bin:/bin")
    r = subprocess.run(CLI + ["container", "build", str(out), "--wheel", str(wheel)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and "neither apptainer nor singularity is installed here" in r.stdout, r.stdout + r.stderr
    # an apptainer that cannot build (the test cluster's stand-in, where installed): its error and the commands
    standin = shutil.which("apptainer")
    if standin and "stand-in" in subprocess.run([standin, "--version"], capture_output=True, text=True).stdout.lower():
        r = subprocess.run(CLI + ["container", "build", str(out), "--wheel", str(wheel)], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 1 and "apptainer build failed (status 255)" in r.stdout, r.stdout + r.stderr
        assert f"apptainer build napari-tramway-{__version__}.sif" in r.stdout
    # a wheel of another version is refused with one line
    other = tmp_path / "napari_tramway-0.0.1-py3-none-any.whl"
    shutil.copy(wheel, other)
    r = subprocess.run(CLI + ["container", "build", str(tmp_path / "x"), "--wheel", str(other)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "is not napari-tramway" in r.stderr and r.stderr.count("\n") == 1


@pytest.fixture
def standin_images(cluster, worker_wheel):
    """Stand-in images (JSON) whose Python has napari-tramway installed from the wheel built here, and
    one with another version; removed afterwards."""
    out, _ = worker_wheel
    wheel = out / f"napari_tramway-{__version__}-py3-none-any.whl"
    base = json.loads(Path(cluster["NTW_CONTAINER"]).read_text())
    root = Path(cluster["NTW_CONTAINER"]).parent / f"ntw-test-{os.getpid()}"
    made = {}
    try:
        for name, version in (("same", __version__), ("older", "0.0.1")):
            site_dir = root / name / "site-packages"
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                            str(site_dir), str(wheel)], check=True, capture_output=True, timeout=300)
            if version != __version__:  # as if built from an older release
                (site_dir / "napari_tramway" / "_version.py").write_text(f'__version__ = "{version}"\n')
            image = root / f"{name}.sif"
            image.write_text(json.dumps({**base, "name": f"ntw-test-{name}",
                                         "env": {**base.get("env", {}), "PYTHONPATH": str(site_dir)},
                                         "labels": {**base.get("labels", {}), "org.napari-tramway.version": version}}))
            made[name] = str(image)
        subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
        yield made
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(600)
def test_check_site_compares_the_image_version(cluster, site, standin_images, data_files, tmp_path, recorder):
    env = site(container=standin_images["same"])
    by = {r.name: r for r in env.check()}
    assert all(r.ok for r in by.values()), [r.line() for r in by.values()]
    assert by["container-version"].message == f"napari-tramway {__version__}, as on this computer"
    summary = Analysis(make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)]), store=tmp_path / "a").run(
        env=env, events=recorder)
    assert summary.ok, summary.errors
    # an image of another version: named, with how to fix it, and nothing is submitted
    env = site(container=standin_images["older"])
    (bad,) = [r for r in env.check() if r.ok is False]
    assert bad.name == "container-version" and bad.message.startswith(
        f"the image has napari-tramway 0.0.1, this computer runs {__version__}: rebuild the image for napari-tramway "
        f"{__version__}: `napari-tramway container build`")
    handle = Analysis(make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)]), store=tmp_path / "b").start(env=env)
    handle.wait(120)
    assert isinstance(handle.exception, SiteCheckFailed) and "\n" not in str(handle.exception)
    # the command line says the same
    r = subprocess.run(CLI + ["check-site", f"{Path(__file__).with_name('sites_for_tests.py')}:TestCluster",
                              "--user", cluster["NTW_SSH_USER"], "--container", standin_images["older"]],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "✗ napari-tramway in the container" in r.stdout and "0.0.1" in r.stdout, r.stdout
