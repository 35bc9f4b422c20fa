"""The headless core of napari-tramway: pure numpy / scipy / pandas.

Nothing in this package may import napari, Qt, magicgui or paramiko: it runs inside cluster
containers that hold only numpy, scipy and pandas. Units everywhere: space in µm, time in s,
diffusivity in µm²/s, drift in µm/s, force in kT/µm, potential in kT.
"""
