"""The version of napari-tramway (single source: packaging reads it, workers ship it)."""

__version__ = "0.1.0"
