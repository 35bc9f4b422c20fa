"""Fixtures and hooks of the cluster tests; they live in :mod:`cluster_helpers` (importable by the
tests, unlike a conftest module, whose name is shared by every test folder)."""

from cluster_helpers import *  # noqa: F401,F403
from cluster_helpers import pytest_collection_modifyitems  # noqa: F401
