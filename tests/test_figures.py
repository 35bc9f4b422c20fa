"""Publication figures (``napari_tramway.figures``, ``napari-tramway figure``): headless, matplotlib."""

from __future__ import annotations

import numpy as np
import pytest

from napari_tramway.core.roi import Ellipse


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """DV on the sample's three cells (named ROIs), in a results directory."""
    from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from napari_tramway._sample_data import sample_files

    _, _, _, fld, path = sample_files(directory=tmp_path_factory.mktemp("sample"))
    rois = [Ellipse((cx, cy), (a, b), ang, name=f"cell {i + 1}") for i, (cx, cy, a, b, ang) in enumerate(fld.cells)]
    spec = AnalysisSpec(files=[DataFile(str(path), 0.02, 0.02)], rois=rois, mesh=MeshSpec("hexagon", {"resolution": 1.5}),
                        model=ModelSpec("dv", {}))
    root = tmp_path_factory.mktemp("figures") / "cells"
    assert Analysis(spec, store=root).run().ok
    return root


@pytest.fixture(scope="module")
def background():
    from napari_tramway._layers import ImageGrid
    from napari_tramway._sample_data import sample_files
    from napari_tramway.figures import Background

    image, pixel_size, *_ = sample_files()
    return Background.from_array(image, ImageGrid((0.0, 0.0), pixel_size, image.shape))


def test_figure_has_colour_bar_title_units_scale_bar_and_image(store, background):
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    from napari_tramway._layers.runs import run_label
    from napari_tramway._layers.sources import units_of_path
    from napari_tramway.figures import draw_figure

    units = units_of_path(store)
    entries = [(label, maps, meta, None) for label, maps, meta, _ in units]
    run = run_label(units[0][2]["spec"], str(store))
    fig = draw_figure(run, "diffusivity", entries, background)
    assert fig._suptitle.get_text() == "diffusivity D (µm²/s) — cells (DV, hexagon 1.5 µm)"
    ax, cax = fig.axes
    assert cax.get_ylabel() == "D (µm²/s), log scale"
    labels = [t.get_text() for t in cax.get_yticklabels()]
    assert "0.1" in labels  # ticks in µm²/s, not exponents
    assert len(ax.images) == 2  # the grey image, the map over it
    bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert len(bars) == 1 and bars[0].txt_label.get_text().endswith(" µm")
    # the map's pixels are the cells' D (NaN, transparent, outside the cells)
    values = ax.images[1].get_array()
    d = np.concatenate([m.table["diffusivity"].to_numpy() for _, m, _, _ in units])
    shown = values.compressed()
    assert shown.min() >= np.nanmin(d) - 1e-9 and shown.max() <= np.nanmax(d) + 1e-9
    fig = draw_figure(run, "force", entries, None)
    assert fig.axes[1].get_ylabel() == "‖F‖ (kT/µm)" and len(fig.axes[0].collections) == 1  # arrows


def test_colour_scales_shared_or_per_region_and_formats(store, background, tmp_path):
    from napari_tramway.figures import figures_of_path

    paths = figures_of_path(store, tmp_path / "auto", background=background, formats=["png", "svg", "pdf"])
    names = sorted(p.name for p in paths if p.suffix == ".png")
    # D and force on one shared scale; V per region (each region's 0 kT is its own minimum)
    assert names == ["cells D.png", "cells V cell 1.png", "cells V cell 2.png", "cells V cell 3.png", "cells force.png"]
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith({".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[p.suffix]), p
    shared = figures_of_path(store, tmp_path / "shared" / "fig.svg", quantities=["potential"], shared_scale=True)
    assert [p.name for p in shared] == ["fig V.svg"]
    separate = figures_of_path(store, tmp_path / "sep", quantities=["diffusivity"], shared_scale=False)
    assert sorted(p.name for p in separate) == ["cells D cell 1.png", "cells D cell 2.png", "cells D cell 3.png"]
    with pytest.raises(ValueError, match="have no drift"):
        figures_of_path(store, tmp_path / "x", quantities=["drift"])


def test_figure_command(store, tmp_path, capsys):
    import tifffile

    from napari_tramway._sample_data import sample_files
    from napari_tramway.cli import main

    image, pixel_size, *_ = sample_files()
    tifffile.imwrite(tmp_path / "image.tif", image)
    assert main(["figure", str(store), "-o", str(tmp_path / "out"), "--format", "pdf", "--quantity", "diffusivity",
                 "--background", str(tmp_path / "image.tif"), "--pixel-size", str(pixel_size)]) == 0
    assert (tmp_path / "out" / "cells D.pdf").stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().out
    assert main(["figure", str(store), "-o", str(tmp_path / "out"), "--quantity", "drift"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "have no drift" in err
    assert main(["figure", str(store), "--background", str(tmp_path / "image.tif")]) == 2
    assert "--pixel-size" in capsys.readouterr().err
    assert main(["figure", str(tmp_path / "nothing-here")]) == 2
    assert "not a napari-tramway result" in capsys.readouterr().err
