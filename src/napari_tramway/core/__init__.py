"""The headless core of napari-tramway: numpy / scipy / pandas, and shapely for polygons.

Nothing in this package may import napari, Qt, magicgui or paramiko: it runs inside cluster
containers that hold only numpy, scipy, pandas and shapely. Units everywhere: space in µm, time in s,
diffusivity in µm²/s, drift in µm/s, force in kT/µm, potential in kT.
"""
