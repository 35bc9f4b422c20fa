"""TrackMate session files (``.xml``, TrackMate 1.x through 8.x).

Layout read (TrackMate >= 2.1; older files keep the same elements directly under the root)::

    <TrackMate version="7.11.1">
      <Model spatialunits="micron" timeunits="sec">
        <AllSpots nspots="..."><SpotsInFrame frame="0">
            <Spot ID="..." name="..." POSITION_X= POSITION_Y= POSITION_Z= POSITION_T= FRAME= .../>
        <AllTracks><Track name="Track_0" TRACK_ID="0" ...>
            <Edge SPOT_SOURCE_ID="..." SPOT_TARGET_ID="..." .../>
        <FilteredTracks><TrackID TRACK_ID="0"/>
      <Settings><ImageData pixelwidth= pixelheight= timeinterval= .../>

Differences handled: TrackMate 1.x names edge ends ``sourceID``/``targetID`` and track ids
``trackID``; 1.x-2.0 state the units on ``<ImageData spatialunits= timeunits=>`` and have no
``<Model>`` (without units TrackMate assumes pixels and frames); spots may lack ``FRAME`` (the
enclosing ``<SpotsInFrame frame=>`` is used) or ``POSITION_T`` (then t = frame × frame
interval). Positions are in ``spatialunits`` (``micron``, ``µm``, ``nm``, ``pixel`` -> needs
``pixel_size``) and ``POSITION_T`` in ``timeunits`` (``sec``, ``ms``, ``frame`` -> needs
``frame_interval``). When ``<FilteredTracks>`` exists, only the tracks it lists are read.

TrackMate tracks are graphs. They are cut into simple trajectories by one rule: an edge u -> v
(oriented forward in time) continues a trajectory iff u has exactly one successor and v exactly
one predecessor. So a trajectory starts at every spot with no predecessor, several
predecessors (merge), or whose predecessor has several successors (split); the spots at a split
or merge end or start a trajectory. Edges that skip frames (gap closing) stay one longer step.
Trajectories are numbered 1, 2, ... in the order of their track and start time.
"""

from __future__ import annotations

import numpy as np

from napari_tramway.core.errors import TrajectoryFormatError

from . import units as U
from . import xmlstream as X
from .assemble import Options, RawTable
from .sniff import Sniffed

_CORE = {"ID", "name", "POSITION_X", "POSITION_Y", "POSITION_Z", "POSITION_T", "FRAME"}


class _Handler:
    """Collects spots, edges, filtered track ids, units and calibration while streaming."""

    def __init__(self, path: str, keep: bool):
        self.path = path
        self.keep = keep
        self.ids: list[int] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.z: list[float] = []
        self.t: list[float] = []
        self.frame: list[float] = []
        self.lines: list[int] = []
        self.features: dict[str, list[float]] = {}
        self.has_t = True
        self.has_z = True
        self.edge_src: list[int] = []
        self.edge_tgt: list[int] = []
        self.edge_track: list[int] = []
        self.edge_line: list[int] = []
        self.track_count = 0
        self.filtered: set[int] | None = None
        self.spatial = None
        self.time = None
        self.image: dict = {}
        self.version = None
        self._in_spots = False
        self._in_tracks = False
        self._in_filtered = False
        self._frame_of_block = None
        self._track = None

    def start(self, name, attrs, line):
        p = self.path
        if name == "Spot" and self._in_spots:
            sid = X.integer(attrs, "ID", p, line, "<Spot>")
            what = f"spot ID={sid}"
            self.ids.append(sid)
            self.x.append(X.number(attrs, "POSITION_X", p, line, what))
            self.y.append(X.number(attrs, "POSITION_Y", p, line, what))
            z = X.number(attrs, "POSITION_Z", p, line, what, required=False)
            self.has_z &= z is not None
            self.z.append(0.0 if z is None else z)
            frame = X.number(attrs, "FRAME", p, line, what, required=False)
            if frame is None:
                frame = self._frame_of_block
                if frame is None:
                    raise TrajectoryFormatError(
                        f"{what} has no FRAME attribute and no enclosing <SpotsInFrame frame=>",
                        path=p,
                        line=line,
                    )
            self.frame.append(frame)
            t = X.number(attrs, "POSITION_T", p, line, what, required=False)
            self.has_t &= t is not None
            self.t.append(np.nan if t is None else t)
            self.lines.append(line)
            if self.keep:
                self._features(attrs, len(self.ids) - 1)
        elif name == "Edge" and self._track is not None:
            what = f"an edge of track {self._track}"
            src = attrs.get("SPOT_SOURCE_ID", attrs.get("sourceID"))
            tgt = attrs.get("SPOT_TARGET_ID", attrs.get("targetID"))
            if src is None or tgt is None:
                raise TrajectoryFormatError(
                    f"{what} has no SPOT_SOURCE_ID / SPOT_TARGET_ID attribute", path=p, line=line
                )
            key_s = "SPOT_SOURCE_ID" if "SPOT_SOURCE_ID" in attrs else "sourceID"
            key_t = "SPOT_TARGET_ID" if "SPOT_TARGET_ID" in attrs else "targetID"
            self.edge_src.append(X.integer(attrs, key_s, p, line, what))
            self.edge_tgt.append(X.integer(attrs, key_t, p, line, what))
            self.edge_track.append(self._track)
            self.edge_line.append(line)
        elif name == "SpotsInFrame":
            self._frame_of_block = X.number(attrs, "frame", p, line, "<SpotsInFrame>", False)
        elif name == "AllSpots":
            self._in_spots = True
        elif name == "Track" and self._in_tracks:
            key = "TRACK_ID" if "TRACK_ID" in attrs else "trackID"
            self._track = X.integer(attrs, key, p, line, "<Track>")
            self.track_count += 1
        elif name == "AllTracks":
            self._in_tracks = True
        elif name == "FilteredTracks":
            self._in_filtered = True
            self.filtered = set()
        elif name == "TrackID" and self._in_filtered:
            key = "TRACK_ID" if "TRACK_ID" in attrs else "trackID"
            self.filtered.add(X.integer(attrs, key, p, line, "<TrackID>"))
        elif name == "Model":
            self.spatial = attrs.get("spatialunits", self.spatial)
            self.time = attrs.get("timeunits", self.time)
        elif name == "ImageData":
            self.image = dict(attrs)
        elif name == "TrackMate":
            self.version = attrs.get("version")

    def end(self, name):
        if name == "AllSpots":
            self._in_spots = False
        elif name == "AllTracks":
            self._in_tracks = False
        elif name == "Track":
            self._track = None
        elif name == "FilteredTracks":
            self._in_filtered = False
        elif name == "SpotsInFrame":
            self._frame_of_block = None

    def _features(self, attrs, index):
        for key, value in attrs.items():
            if key in _CORE:
                continue
            try:
                v = float(value)
            except ValueError:
                continue
            col = self.features.get(key)
            if col is None:
                col = self.features[key] = [np.nan] * index
            col.extend([np.nan] * (index - len(col)))
            col.append(v)


def read_trackmate_xml(path: str, head: bytes, sniffed: Sniffed, opts: Options) -> RawTable:
    """Read a TrackMate XML file into a :class:`RawTable` of simple trajectories."""
    h = _Handler(path, opts.keep_columns)
    X.parse(path, h.start, h.end)
    if not h.ids:
        raise TrajectoryFormatError(
            "a TrackMate file without spots (no <Spot> in <AllSpots>): nothing to read", path=path
        )
    if not h.edge_src:
        raise TrajectoryFormatError(
            f"spots but no tracks: the TrackMate file has {len(h.ids)} spots and "
            f"{'no <Track>' if h.track_count == 0 else 'no track edges'}; run the tracking step "
            "in TrackMate and save again",
            path=path,
        )
    spot_id = np.asarray(h.ids, dtype=np.int64)
    frame = np.asarray(h.frame, dtype=np.float64)
    src_id = np.asarray(h.edge_src, dtype=np.int64)
    tgt_id = np.asarray(h.edge_tgt, dtype=np.int64)
    track = np.asarray(h.edge_track, dtype=np.int64)
    eline = np.asarray(h.edge_line, dtype=np.int64)
    if h.filtered is not None:
        keep = np.isin(track, np.fromiter(h.filtered, dtype=np.int64, count=len(h.filtered)))
        if not keep.any():
            raise TrajectoryFormatError(
                f"no tracks: none of the {h.track_count} tracks passes TrackMate's track filters "
                "(<FilteredTracks> is empty)",
                path=path,
            )
        src_id, tgt_id, track, eline = src_id[keep], tgt_id[keep], track[keep], eline[keep]

    order = np.argsort(spot_id, kind="stable")
    sorted_ids = spot_id[order]
    if sorted_ids.size > 1 and np.any(sorted_ids[1:] == sorted_ids[:-1]):
        dup = int(sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0])
        lines = [h.lines[i] for i in np.flatnonzero(spot_id == dup)[:2]]
        raise TrajectoryFormatError(
            f"two spots share the ID {dup} (lines {lines[0]} and {lines[1]})",
            path=path,
            line=lines[1],
        )
    src = _index_of(src_id, sorted_ids, order, eline, path)
    tgt = _index_of(tgt_id, sorted_ids, order, eline, path)

    swap = frame[src] > frame[tgt]
    src, tgt = np.where(swap, tgt, src), np.where(swap, src, tgt)
    same = frame[src] == frame[tgt]
    if same.any():
        i = int(np.argmax(same))
        raise TrajectoryFormatError(
            f"track {track[i]} links spots {spot_id[src[i]]} and {spot_id[tgt[i]]} of the same "
            f"frame {frame[src[i]]:g}",
            path=path,
            line=int(eline[i]),
        )
    node_track = np.full(spot_id.size, -1, dtype=np.int64)
    node_track[src] = track
    node_track[tgt] = track
    label = linear_segments(src, tgt, spot_id.size, key=(node_track, frame, spot_id))
    rows = np.flatnonzero(label >= 0)

    data = {
        "n": (label[rows] + 1).astype(np.int64),
        "POSITION_X": np.asarray(h.x)[rows],
        "POSITION_Y": np.asarray(h.y)[rows],
        "FRAME": frame[rows],
    }
    roles = {"n": "n", "x": "POSITION_X", "y": "POSITION_Y", "frame": "FRAME"}
    if h.has_z:
        data["POSITION_Z"] = np.asarray(h.z)[rows]
        roles["z"] = "POSITION_Z"
    if h.has_t:
        data["POSITION_T"] = np.asarray(h.t)[rows]
        roles["t"] = "POSITION_T"
    extras = []
    if opts.keep_columns:
        data["TRACK_ID"] = node_track[rows]
        data["SPOT_ID"] = spot_id[rows]
        extras = ["TRACK_ID", "SPOT_ID"]
        for key, col in h.features.items():
            col.extend([np.nan] * (len(h.ids) - len(col)))
            data[key] = np.asarray(col)[rows]
            extras.append(key)

    spatial = h.spatial or h.image.get("spatialunits") or "pixel"
    time = h.time or h.image.get("timeunits") or "frame"
    units = {"x": spatial, "y": spatial, "z": spatial, "t": time}
    lines = np.asarray(h.lines, dtype=np.int64)[rows]
    ids = spot_id[rows]
    return RawTable(
        path=path,
        format="trackmate-xml",
        data=data,
        roles=roles,
        units=units,
        extras=extras,
        line_of_row=lambda i: int(lines[i]),
        row_label=lambda i: f"spot ID={int(ids[i])}",
        what="TrackMate",
        file_pixel_size=U.calibrated(h.image.get("pixelwidth"), spatial, U.space_factor),
        file_frame_interval=U.calibrated(h.image.get("timeinterval"), time, U.time_factor),
        drop_constant_z=True,
    )


def linear_segments(src: np.ndarray, tgt: np.ndarray, n_nodes: int, key=None) -> np.ndarray:
    """Cut a forward-in-time graph into simple paths; the path index of each node (-1: no edge).

    An edge u -> v continues a path iff u has one successor and v one predecessor. Paths are
    numbered by their start node, in the lexicographic order of ``key`` (arrays over nodes,
    most significant first) or of node index.
    """
    outdeg = np.bincount(src, minlength=n_nodes)
    indeg = np.bincount(tgt, minlength=n_nodes)
    cont = (outdeg[src] == 1) & (indeg[tgt] == 1)
    nxt = np.full(n_nodes, -1, dtype=np.int64)
    nxt[src[cont]] = tgt[cont]
    has_prev = np.zeros(n_nodes, dtype=bool)
    has_prev[tgt[cont]] = True
    starts = np.flatnonzero(((outdeg + indeg) > 0) & ~has_prev)
    if key is not None:
        starts = starts[np.lexsort(tuple(np.asarray(k)[starts] for k in reversed(key)))]
    label = np.full(n_nodes, -1, dtype=np.int64)
    nxt_list = nxt.tolist()
    for k, node in enumerate(starts.tolist()):
        while node >= 0:
            label[node] = k
            node = nxt_list[node]
    return label


def _index_of(ids, sorted_ids, order, eline, path):
    pos = np.searchsorted(sorted_ids, ids)
    pos[pos >= sorted_ids.size] = 0
    missing = sorted_ids[pos] != ids
    if missing.any():
        i = int(np.argmax(missing))
        raise TrajectoryFormatError(
            f"a track edge refers to spot ID={int(ids[i])}, which is not in <AllSpots>",
            path=path,
            line=int(eline[i]),
        )
    return order[pos]

