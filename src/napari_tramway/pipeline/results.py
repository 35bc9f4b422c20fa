"""Reading a result store: list its units, load their maps and metadata (no data files needed).

>>> from napari_tramway.pipeline import open_results
>>> res = open_results("analysis.results")
>>> res.labels(), res.maps("cell1/roi000").table

Running an analysis is the façade's (:class:`napari_tramway.Analysis`); what a run writes is
:mod:`.store`'s.
"""

from __future__ import annotations

from .spec import AnalysisSpec
from .store import ResultStore


class Results:
    """Read access to a result store: list units, load maps (no data files needed)."""

    def __init__(self, root):
        self.store = ResultStore(root)
        self.info = self.store.info()

    def labels(self, state: str = "done") -> list[str]:
        return [s.label for s in self.store.summary(verify=False) if state is None or s.state == state]

    def summary(self, verify: bool = True):
        return self.store.summary(verify=verify)

    def maps(self, label: str):
        """The :class:`~napari_tramway.core.maps.Maps` of a done unit (checksum verified)."""
        maps, _ = self.store.load_unit(label)
        return maps

    def unit(self, label: str):
        """``(maps, metadata)`` of a done unit: the spec, software version, timings, environment."""
        return self.store.load_unit(label)

    def spec(self) -> AnalysisSpec:
        return self.store.spec()


def open_results(root) -> Results:
    """Open a result store directory written by a run."""
    return Results(root)
