"""Remote environments: a Slurm cluster over SSH (being split by idea; see site.py)."""

from .site import *  # noqa: F403
from .site import __all__  # noqa: F401
