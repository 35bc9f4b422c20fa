"""ISBI 2012 particle-tracking challenge files, and TrackMate's "export tracks to XML".

Layouts read::

    <root>
      <TrackContestISBI2012 snr="7" density="mid" scenario="VIRUS">
        <particle>
          <detection t="0" x="81.9" y="10.3" z="0"/>
          ...

    <Tracks nTracks="2" spaceUnits="micron" frameInterval="0.05" timeUnits="sec">
      <particle nSpots="..."><detection t="0" x=".." y=".." z=".."/>

Each ``<particle>`` is one trajectory, numbered 1, 2, ... in file order. ``t`` is a frame
number. In the challenge format (also written by Icy's track manager) x, y, z are pixels: give
``pixel_size`` (µm) and ``frame_interval`` (s), or ``space_unit='µm'`` when the positions are
already calibrated (TrackMate's ISBI exporter writes calibrated positions). The ``<Tracks>``
variant states ``spaceUnits``, ``frameInterval`` and ``timeUnits``, which are used.
"""

from __future__ import annotations

import numpy as np

from napari_tramway.core.errors import TrajectoryFormatError

from . import units as U
from . import xmlstream as X
from .assemble import Options, RawTable
from .sniff import Sniffed


class _Handler:
    def __init__(self, path: str):
        self.path = path
        self.n: list[int] = []
        self.t: list[float] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.z: list[float] = []
        self.lines: list[int] = []
        self.has_z = True
        self.particles = 0
        self.in_particle = False
        self.tracks_attrs: dict | None = None
        self.contest = False

    def start(self, name, attrs, line):
        p = self.path
        if name == "detection":
            if not self.in_particle:
                raise TrajectoryFormatError(
                    "a <detection> outside any <particle>", path=p, line=line
                )
            what = f"a detection of particle {self.particles}"
            self.n.append(self.particles)
            self.t.append(X.number(attrs, "t", p, line, what))
            self.x.append(X.number(attrs, "x", p, line, what))
            self.y.append(X.number(attrs, "y", p, line, what))
            z = X.number(attrs, "z", p, line, what, required=False)
            self.has_z &= z is not None
            self.z.append(0.0 if z is None else z)
            self.lines.append(line)
        elif name == "particle":
            self.particles += 1
            self.in_particle = True
        elif name == "Tracks":
            self.tracks_attrs = dict(attrs)
        elif name == "TrackContestISBI2012":
            self.contest = True

    def end(self, name):
        if name == "particle":
            self.in_particle = False


def read_isbi_xml(path: str, head: bytes, sniffed: Sniffed, opts: Options) -> RawTable:
    """Read an ISBI 2012 challenge XML file (or a TrackMate ``<Tracks>`` export)."""
    h = _Handler(path)
    X.parse(path, h.start, h.end)
    if not h.n:
        what = "no <particle>" if h.particles == 0 else "only empty <particle> elements"
        raise TrajectoryFormatError(f"no tracks: the file has {what}", path=path)
    data = {
        "particle": np.asarray(h.n, dtype=np.int64),
        "x": np.asarray(h.x),
        "y": np.asarray(h.y),
        "t": np.asarray(h.t),
    }
    roles = {"n": "particle", "x": "x", "y": "y", "t": "t"}
    if h.has_z:
        data["z"] = np.asarray(h.z)
        roles["z"] = "z"
    units: dict[str, str] = {"t": U.FRAME}
    native_pixels = True
    frame_interval = None
    what = "ISBI challenge"
    attrs = h.tracks_attrs
    if attrs is not None:
        what = "TrackMate track export"
        space = attrs.get("spaceUnits")
        if space:
            units.update(x=space, y=space, z=space)
            native_pixels = False
        frame_interval = U.calibrated(attrs.get("frameInterval"), attrs.get("timeUnits"), U.time_factor)
    lines = np.asarray(h.lines, dtype=np.int64)
    return RawTable(
        path=path,
        format="isbi-xml",
        data=data,
        roles=roles,
        units=units,
        line_of_row=lambda i: int(lines[i]),
        native_pixels=native_pixels,
        what=what,
        file_frame_interval=frame_interval,
        drop_constant_z=True,
    )

