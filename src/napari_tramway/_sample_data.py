"""napari sample data: a simulated wide-field image of three cells with their trajectories.

The trajectories are also written once to a TRamWAy text file in the user's cache directory
(``$NAPARI_TRAMWAY_CACHE`` or ``~/.cache/napari-tramway/sample``), whose path travels in the
Tracks layer's metadata: an analysis of the sample runs exactly like one of a real file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._layers import METADATA_KEY, image_transform, space_time

SAMPLE_SEED = 1
SAMPLE_LOCATIONS = 60_000


def cache_dir() -> Path:
    root = os.environ.get("NAPARI_TRAMWAY_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "napari-tramway"
    return base / "sample"


def sample_files(n_locations: int = SAMPLE_LOCATIONS, seed: int = SAMPLE_SEED, directory=None):
    """``(image, pixel_size, locations, field, trajectory file path)`` of the sample; the file (in
    ``directory``, default :func:`cache_dir`) is written once."""
    from .core.io import write_trajectories_text
    from .core.simulate import SAMPLE_ACQUISITION, SAMPLE_VERSION, sample_dataset

    image, pixel_size, locations, fld = sample_dataset(n_locations=n_locations, seed=seed)
    path = Path(directory or cache_dir()) / f"simulated-cells-v{SAMPLE_VERSION}-{n_locations}-seed{seed}.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_trajectories_text(locations, path, frame_interval=SAMPLE_ACQUISITION.frame_interval,  # atomic
                                localization_precision=SAMPLE_ACQUISITION.localization_precision)
    locations.attrs["source"] = str(path)
    return image, pixel_size, locations, fld, path


def write_sample_image(path, image, pixel_size: float) -> Path:
    """Write the sample's wide-field image as an ImageJ TIFF calibrated in µm (``pixel_size`` µm per
    pixel), so that Fiji, napari-tramway's reader and napari show it at its scale."""
    import tifffile

    path = Path(path)
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / pixel_size, 1 / pixel_size),
                     metadata={"unit": "um"})
    return path


def image_layer_data(image, pixel_size: float, fld=None):
    """The sample's wide-field image as a layer-data tuple (scale = pixel size, µm; corner at 0, 0)."""
    scale, translate = image_transform((0.0, 0.0), pixel_size)
    metadata = {METADATA_KEY: {"kind": "image", "pixel_size": pixel_size, "origin": [0.0, 0.0]}}
    if fld is not None:
        metadata["cells"] = [list(c) for c in fld.cells]
    return (image, {"name": "wide-field (simulated)", "scale": scale, "translate": translate, "colormap": "gray",
                    **space_time(False), "metadata": metadata}, "image")


def make_sample_data():
    """The wide-field image (scale = pixel size, µm) and its trajectories (a Tracks layer, µm)."""
    from ._reader import trajectory_layer_data
    from .core.io import read_trajectory_file

    image, pixel_size, _, fld, path = sample_files()
    # read back like any file: the layer shows what an analysis of it reads (frame interval, σ, provenance)
    data, kwargs, kind = trajectory_layer_data(path, read_trajectory_file(path, warn=False))
    kwargs["name"] = "trajectories (simulated)"
    return [image_layer_data(image, pixel_size, fld), (data, kwargs, kind)]
