"""What the unit worker needs where it runs (a cluster node's container): checked before a submission."""

#: Python packages the worker imports (core + pipeline); a site's container must provide them.
WORKER_PACKAGES = ("numpy", "scipy", "pandas", "shapely")
#: Oldest Python the worker runs on.
WORKER_PYTHON = (3, 10)
