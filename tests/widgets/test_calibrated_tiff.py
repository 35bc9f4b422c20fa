"""The sample image is written with an ImageJ calibration in µm, and the plugin opens calibrated
TIFFs (ours, or Fiji's) at their scale; other TIFFs are left to napari's own reader."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_tramway._reader import get_reader, tiff_pixel_size


def test_the_demo_sample_image_opens_at_its_scale(make_napari_viewer, tmp_path):
    from napari_tramway.demo import write_sample

    _, image, pixel_size, _, _, _ = write_sample(tmp_path)
    path = tmp_path / "sample-image.tif"
    with tifffile.TiffFile(path) as tif:  # what Fiji reads: ImageJ description unit=um, XResolution px/µm
        assert tif.is_imagej and tif.imagej_metadata["unit"] == "um"
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(pixel_size)
    assert tiff_pixel_size(path) == pytest.approx(pixel_size)
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="napari-tramway")
    assert len(layers) == 1
    layer = layers[0]
    np.testing.assert_array_equal(layer.data, image)
    assert tuple(layer.scale) == pytest.approx((pixel_size, pixel_size))
    # the corner of pixel (0, 0) at (0, 0) µm, as the trajectories and the sample layer
    assert tuple(layer.translate) == pytest.approx((pixel_size / 2, pixel_size / 2))
    assert layer.metadata["napari_tramway"]["pixel_size"] == pytest.approx(pixel_size)


@pytest.mark.parametrize("unit, resolution, expected", [
    ("micron", (1 / 0.065, 1 / 0.065), 0.065),   # Fiji's usual spelling
    ("nm", (1 / 160.0, 1 / 160.0), 0.16),
    ("\\u00B5m", (10.0, 10.0), 0.1),              # ImageJ writes µ escaped
    ("pixel", (1.0, 1.0), None),                 # uncalibrated: napari's reader
    (None, None, None),                          # no ImageJ metadata
    ("micron", (10.0, 5.0), None),               # non-square pixels
])
def test_fiji_calibrations_are_read_in_um(tmp_path, unit, resolution, expected):
    path = tmp_path / "img.tif"
    data = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32)
    if unit is None:
        tifffile.imwrite(path, data)
    else:
        tifffile.imwrite(path, data, imagej=True, resolution=resolution, metadata={"unit": unit})
    got = tiff_pixel_size(path)
    assert got == (None if expected is None else pytest.approx(expected))
    assert (get_reader(str(path)) is None) == (expected is None)


def test_a_time_stack_keeps_its_time_axis_unscaled(tmp_path):
    path = tmp_path / "stack.tif"
    data = np.zeros((5, 24, 32), dtype=np.uint8)
    tifffile.imwrite(path, data, imagej=True, resolution=(10.0, 10.0), metadata={"unit": "um", "axes": "TYX"})
    (layer_data,) = get_reader(str(path))(str(path))
    assert layer_data[0].shape == (5, 24, 32)
    assert layer_data[1]["scale"] == pytest.approx((1.0, 0.1, 0.1))
