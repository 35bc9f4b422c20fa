"""The vocabulary of trajectory files: column roles and format names (no logic, no imports)."""

#: Roles a file's columns can play: trajectory id, positions (µm after reading), time (s), frame number.
ROLES = ("n", "x", "y", "z", "t", "frame")

#: Formats :func:`napari_tramway.core.io.read_trajectories` recognises (or is told with ``format=``).
FORMATS = (
    "tramway-text",
    "csv",
    "trackmate-csv",
    "trackpy",
    "mosaic",
    "thunderstorm",
    "trackmate-xml",
    "isbi-xml",
)
