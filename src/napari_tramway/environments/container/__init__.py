"""The worker's container image: an Apptainer/Singularity definition file for the exact version of
napari-tramway this computer runs, the wheel it installs, and building it.

``napari-tramway container build`` (:func:`build`) writes into one folder the wheel of this
version (built from the source checkout, or a given one; none when the image installs the
released version from PyPI) and ``napari-tramway-<version>.def`` (:func:`recipe`, from the
template ``napari-tramway.def`` next to this file). The image holds only what the unit worker
needs: napari-tramway without its dependencies (no napari, Qt or paramiko) and the worker's
packages (:data:`~napari_tramway.pipeline.requirements.WORKER_PACKAGES`), pinned to the versions
this computer runs. When ``apptainer`` (or ``singularity``) is installed, it builds the image;
otherwise the exact commands to run on a machine that has it are returned. ``check-site``
compares the version of napari-tramway in the image with this computer's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..._version import __version__
from ...pipeline.requirements import WORKER_PACKAGES

TEMPLATE = Path(__file__).with_name("napari-tramway.def")
#: the distribution name of a worker package whose import name (in WORKER_PACKAGES) differs from it;
#: the packages themselves are listed once, in WORKER_PACKAGES
DISTRIBUTIONS: dict[str, str] = {"skimage": "scikit-image"}


class ContainerError(RuntimeError):
    """The recipe or the wheel could not be made; the message says what to do."""


@dataclass
class ContainerBuild:
    """What :func:`build` made: the folder, the definition file, the wheel (None: from PyPI), the
    image when it was built, the commands that build it, what happened, and the error of an
    ``apptainer build`` that failed."""

    directory: Path
    definition: Path
    wheel: Path | None
    image: Path
    commands: list[str]
    built: bool = False
    messages: list[str] = field(default_factory=list)
    error: str = ""


def pins() -> list[str]:
    """``numpy==2.1.3`` ...: the worker's packages at the versions this computer runs."""
    out = []
    for module in WORKER_PACKAGES:
        dist = DISTRIBUTIONS.get(module, module)
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(dist)
    return out


def default_base() -> str:
    """The base image: Debian's slim Python of this computer's minor version (its wheels exist for
    the pinned packages)."""
    return f"docker://python:{sys.version_info[0]}.{sys.version_info[1]}-slim-bookworm"


def recipe(wheel: str | None = None, base: str | None = None, version: str = __version__) -> str:
    """The definition file for napari-tramway ``version``, installing ``wheel`` (a file name in the
    build folder) or, without one, ``napari-tramway==version`` from PyPI."""
    base = base or default_base()
    if base.startswith("docker://"):
        base = base[len("docker://"):]
    if wheel:
        wheel = Path(wheel).name
        files = f"\n%files\n    {wheel} /opt/napari-tramway/{wheel}\n"
        install, source = f"/opt/napari-tramway/{wheel}", f"wheel {wheel}"
        note = f" and {wheel}"
    else:
        files, install, source, note = "", f"napari-tramway=={version}", "PyPI", ""
    values = {"version": version, "base": base, "files": files, "install": install, "source": source,
              "wheel_note": note, "pins": " ".join(pins()), "packages": ", ".join(WORKER_PACKAGES),
              "modules": ", ".join(WORKER_PACKAGES), "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], TEMPLATE.read_text(encoding="utf-8"))


def source_tree() -> Path | None:
    """The source checkout this napari-tramway runs from (a ``pyproject.toml`` naming it above
    ``src/napari_tramway``), or None for an installed package."""
    root = Path(__file__).resolve().parents[4]
    project = root / "pyproject.toml"
    if project.is_file() and re.search(r'(?m)^name\s*=\s*"napari-tramway"', project.read_text(encoding="utf-8")):
        return root
    return None


def build_wheel(directory: Path, source: Path | None = None) -> Path:
    """Build the wheel of this version from the source checkout into ``directory`` (``pip wheel``)."""
    source = source or source_tree()
    if source is None:
        raise ContainerError("napari-tramway runs from an installed package, not a source checkout: give a "
                             "wheel (--wheel PATH) or install the released version from PyPI (--from-pypi)")
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.glob("napari_tramway-*.whl"))
    with tempfile.TemporaryDirectory(prefix="ntw-wheel-") as tmp:
        # a copy of what the wheel is made of, so that building leaves nothing in the checkout
        copy = Path(tmp) / "src"
        shutil.copytree(source / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (source / name).exists():
                shutil.copy2(source / name, copy / name)
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                            str(directory), str(copy)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        tail = " ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
        raise ContainerError(f"building the wheel of {source} failed (pip wheel, status {r.returncode}): {tail}")
    wheel = directory / f"napari_tramway-{__version__}-py3-none-any.whl"
    if not wheel.exists():
        made = sorted(set(directory.glob("napari_tramway-*.whl")) - before) or sorted(before)
        raise ContainerError(f"pip built {', '.join(p.name for p in made) or 'nothing'}, not napari-tramway "
                             f"{__version__} ({source} is another version than the one running?)")
    return wheel


def build(directory="napari-tramway-container", wheel=None, from_pypi: bool = False, base: str | None = None,
          run: bool = True, executable: str | None = None) -> ContainerBuild:
    """Write the wheel and the definition file into ``directory``; build the image with
    ``apptainer`` (or ``singularity``) when one is installed and ``run``; return what was done and
    the commands that build it elsewhere.

    ``wheel``: a wheel of this version to use; ``from_pypi``: install the released version instead;
    otherwise the wheel is built from the source checkout.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    messages = []
    if from_pypi:
        wheel_path = None
    elif wheel:
        wheel_path = Path(wheel).resolve()
        if not wheel_path.is_file():
            raise ContainerError(f"{wheel_path}: no such wheel")
        if f"-{__version__}-" not in wheel_path.name:
            raise ContainerError(f"{wheel_path.name} is not napari-tramway {__version__}, the version this computer runs")
        if wheel_path.parent != directory:
            shutil.copy2(wheel_path, directory / wheel_path.name)
            wheel_path = directory / wheel_path.name
    else:
        wheel_path = build_wheel(directory)
        messages.append(f"built {wheel_path.name} from {source_tree()}")
    definition = directory / f"napari-tramway-{__version__}.def"
    definition.write_text(recipe(wheel_path.name if wheel_path else None, base), encoding="utf-8")
    messages.append(f"wrote {definition}")
    image = directory / f"napari-tramway-{__version__}.sif"
    tool = executable or shutil.which("apptainer") or shutil.which("singularity")
    name = Path(tool).name if tool else "apptainer"
    commands = [f"cd {directory}", f"{name} build {image.name} {definition.name}"]
    result = ContainerBuild(directory, definition, wheel_path, image, commands, False, messages)
    if not run:
        return result
    if tool is None:
        messages.append("neither apptainer nor singularity is installed here: run the commands below on a "
                        "machine that has one (as root, or add --fakeroot)")
        return result
    r = subprocess.run([tool, "build", image.name, definition.name], cwd=directory, capture_output=True, text=True)
    if r.returncode != 0:
        tail = " ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
        result.error = f"{tool} build failed (status {r.returncode}): {tail}"
        messages.append(f"{result.error}; run the commands below on a machine where it works (as root, or add "
                        "--fakeroot)")
        return result
    result.built = image.exists()
    messages.append(f"built {image}" if result.built else f"{tool} build did not write {image}")
    return result


__all__ = ["ContainerBuild", "ContainerError", "build", "build_wheel", "pins", "recipe", "source_tree"]
