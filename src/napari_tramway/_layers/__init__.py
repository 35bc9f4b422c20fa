"""napari layer data from napari-tramway objects, by idea:

* :mod:`.grids` — where rasters lie (the image's pixel grid, cell-id rasters of meshes);
* :mod:`.colour` — colour scales: each column's quantity, title and unit, colormap, log scale, limits;
* :mod:`.maps` — layer building: maps, meshes as layer-data tuples ``(data, kwargs, layer_type)``;
* :mod:`.data` — trajectories (Tracks, µm and s) and named ROIs (Shapes);
* :mod:`.runs` — run grouping: run names, settings summaries, ROI names, stale inputs;
* :mod:`.results` — results → layers: a run's units drawn together, filled as they finish;
* :mod:`.display` — what a viewer shows around them (colour bar titles, scale bar, time, hover).

Everything but :mod:`.display` is pure (no viewer, no Qt): readers, widgets and scripts use the
same layer data. napari's world coordinates are µm (and s on a leading time axis).
"""

from .colour import Quantity, quantity
from .data import (
    ROI_STYLE,
    ROI_TEXT,
    is_trajectory_layer,
    locations_of_layer,
    roi_features,
    rois_from_shapes,
    rois_layer_data,
    shapes_from_rois,
    tracks_from_locations,
)
from .display import apply_display, harmonize_maps, tramway_md
from .grids import (
    ImageGrid,
    RasterGrid,
    cell_raster,
    image_transform,
    raster_for,
    raster_grid,
    typical_cell_size,
)
from .maps import (
    METADATA_KEY,
    LayerData,
    compose_layers,
    layers_from_mesh,
    layers_from_meshes,
    space_time,
)
from .results import (
    MapCollection,
    collection_key,
    layers_from_maps,
    layers_from_results,
    layers_from_units,
    plan_collections,
    region_of_unit,
)
from .runs import RunLabel, input_changes, run_label, settings_summary

__all__ = [
    "METADATA_KEY", "ROI_STYLE", "ROI_TEXT", "ImageGrid", "LayerData", "MapCollection", "Quantity", "RasterGrid",
    "RunLabel", "apply_display", "cell_raster", "collection_key", "compose_layers", "harmonize_maps",
    "image_transform", "input_changes", "is_trajectory_layer", "layers_from_maps", "layers_from_mesh",
    "layers_from_meshes", "layers_from_results", "layers_from_units", "locations_of_layer", "plan_collections",
    "quantity", "raster_for", "raster_grid", "region_of_unit", "roi_features", "rois_from_shapes",
    "rois_layer_data", "run_label", "settings_summary", "shapes_from_rois", "space_time", "tracks_from_locations",
    "tramway_md", "typical_cell_size",
]
