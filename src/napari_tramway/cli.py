"""The ``napari-tramway`` command line: every analysis the GUI runs can be run from here.

Sub-commands: ``analyze`` (one file, end to end), ``run`` (a spec, in-process, on local
processes or on a site), ``results`` (what a store holds), ``demo`` (the sample data),
``sites`` / ``check-site`` (cluster adapters), ``runs`` / ``attach`` / ``cancel`` (remote runs).
Mesh and model options are generated from the registries, so each parameter is described once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class CliError(Exception):
    """A user-facing error: printed as one message, never as a traceback."""


# -- options generated from the registries -----------------------------------------------------

def _argtype(p):
    if p.type == "int":
        return int
    if p.type == "float":
        return float
    return str


def _add_registry_options(parser, registry, group_title, prefix="", collide=(), aliases=None):
    """Add one option per parameter of ``registry``; names in ``collide`` get ``--<prefix>-`` flags."""
    group = parser.add_argument_group(group_title)
    seen = set()
    for entry in registry.values():
        for p in entry.parameters:
            if p.name in seen:
                continue
            seen.add(p.name)
            used_by = [e.name for e in registry.values() if any(q.name == p.name for q in e.parameters)]
            dest = _dest(p.name, prefix, collide)
            flag = "--" + dest.replace("_", "-") if dest != p.name else p.cli_flag
            flags = [flag] + list((aliases or {}).get(p.name, ()))
            helptext = f"{p.help}" + (f" [{p.unit}]" if p.unit else "") + (
                f" (default: {p.default})" if p.default is not None else "") + (
                f" — {', '.join(used_by)}" if len(used_by) < len(registry) else "")
            helptext = helptext.replace("%", "%%")
            if p.type == "bool":
                group.add_argument(*flags, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                                   help=helptext)
            elif p.type == "int_pair":
                group.add_argument(*flags, dest=dest, nargs="+", default=None, metavar="N", help=helptext)
            else:
                group.add_argument(*flags, dest=dest, type=_argtype(p), default=None, help=helptext,
                                   metavar=(p.unit or p.type.upper()).replace("%", "%%"), choices=p.choices)
    return seen


def _dest(name, prefix, collide):
    return f"{prefix}_{name}" if prefix and name in collide else name


def _collisions():
    from .core.meshes import MESHES
    from .core.models import MODELS

    return _parameter_names(MESHES) & _parameter_names(MODELS)


def _collect(args, entry, prefix="", collide=()) -> dict:
    out = {}
    for p in entry.parameters:
        v = getattr(args, _dest(p.name, prefix, collide), None)
        if v is not None:
            out[p.name] = tuple(v) if p.type == "int_pair" and isinstance(v, list) else v
    return out


# -- sub-commands ------------------------------------------------------------------------------

def cmd_analyze(args) -> int:
    from .core.meshes import MESHES
    from .core.models import MODELS
    from .core.roi import read_rois
    from .pipeline import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from .pipeline.spec import validate_parameters

    path = Path(args.trajectory_file)
    if not path.exists():
        raise CliError(f"{path}: no such trajectory file")
    collide = _collisions()
    mesh_params = _collect(args, MESHES[args.mesh], "mesh", collide)
    model_params = _collect(args, MODELS[args.model])
    unknown_mesh = [_dest(n, "mesh", collide) for n in _given(args, MESHES, "mesh", collide)
                    if n not in mesh_params and (n in collide or n not in _parameter_names(MODELS))]
    not_for_model = [n for n in _given(args, MODELS) if n not in model_params
                     and (n in collide or n not in _parameter_names(MESHES))]
    for names, what in ((unknown_mesh, f"mesh {args.mesh!r}"), (not_for_model, f"model {args.model!r}")):
        if names:
            raise CliError(f"option(s) {', '.join('--' + n.replace('_', '-') for n in names)} do not apply to the {what}")
    from .pipeline.spec import SpecError

    try:
        validate_parameters(MESHES[args.mesh], mesh_params, "mesh")
        validate_parameters(MODELS[args.model], model_params, "model")
    except SpecError as exc:
        def flag(path):
            kind, _, name = path.partition(".")
            return "--" + _dest(name, "mesh" if kind == "mesh" else "", collide).replace("_", "-")
        raise CliError("; ".join(f"{flag(p)}: {m}" for p, m in exc.problems)) from None
    rois = read_rois(args.roi, size=args.roi_size) if args.roi else []
    f = DataFile(path=str(path.resolve()), frame_interval=args.frame_interval,
                 localization_precision=model_params.get("sigma"))
    spec = AnalysisSpec(files=[f], rois=rois, group_overlapping_rois=args.group_overlapping,
                        mesh=MeshSpec(args.mesh, mesh_params), model=ModelSpec(args.model, model_params),
                        discard_static=args.discard_static)
    out = Path(args.output)
    stem = spec.file_labels()[0]
    analysis = Analysis(spec, store=out / stem / "results")
    summary = analysis.run(env="inprocess", events=_quiet_events(args.verbose))
    results = analysis.results()
    for unit in analysis.units():
        state = summary.states.get(unit.label)
        region = unit.region_label
        if state not in ("done", "skipped"):
            print(f"{stem}/{region}: {state}: {summary.errors.get(unit.label, '')}")
            continue
        maps, meta = results.unit(unit.label)
        csv = out / stem / f"{region}.csv"
        maps.to_csv(csv)
        maps.save(out / stem / f"{region}.ntw")
        print(_one_line(f"{stem}/{region}", maps, meta))
    return EXIT_OK if summary.ok else EXIT_FAILED


def _given(args, registry, prefix="", collide=()):
    names = set()
    for entry in registry.values():
        for p in entry.parameters:
            if getattr(args, _dest(p.name, prefix, collide), None) is not None:
                names.add(p.name)
    return names


def _parameter_names(registry) -> set[str]:
    return {p.name for e in registry.values() for p in e.parameters}


def _one_line(label, maps, meta) -> str:
    import numpy as np

    t = maps.table
    d = t["diffusivity"].to_numpy() if "diffusivity" in t else np.array([np.nan])
    d = d[np.isfinite(d)]
    timings = meta.get("timings", {})
    n = int(t["n"].sum()) if "n" in t else meta.get("n_steps", 0)
    dtext = f"D median {np.median(d):.3g} µm²/s" if d.size else "no D"
    return (f"{label}: {len(t)} cells, {n} steps, {dtext}, fit {timings.get('fit', 0):.3g} s "
            f"({getattr(maps, 'status', '?')})")


def _quiet_events(verbose):
    def cb(ev):
        if verbose or ev.kind == "failed":
            print(ev.describe(), file=sys.stderr)
    return cb


class ProgressBar:
    """A one-line terminal progress bar over units (plain lines when not a terminal)."""

    def __init__(self, total: int, stream=None):
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.states: dict[str, str] = {}
        self.fraction: dict[str, float] = {}
        self.last = 0.0

    def __call__(self, ev):
        if ev.unit is not None:
            if ev.kind == "progress" and ev.fraction is not None:
                self.fraction[ev.unit] = ev.fraction
            elif ev.kind != "progress":
                self.states[ev.unit] = ev.kind + (f" [{ev.state}]" if ev.state else "")
        if ev.kind in ("failed",) or (ev.kind == "run" and ev.error):
            self._line(ev.describe(), newline=True)
            return
        if not self.tty:
            if ev.kind in ("done", "cancelled", "skipped"):
                self._line(ev.describe(), newline=True)
            return
        now = time.monotonic()
        if now - self.last < 0.1 and ev.kind == "progress":
            return
        self.last = now
        fin = sum(1 for s in self.states.values() if s.split()[0] in ("done", "failed", "cancelled", "skipped"))
        running = [u for u, s in self.states.items() if s.startswith("started")]
        frac = (fin + sum(self.fraction.get(u, 0.0) for u in running)) / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self._line(f"[{bar}] {fin}/{self.total} units, {len(running)} running")

    def _line(self, text, newline=False):
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if newline else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")


def cmd_run(args) -> int:
    from .pipeline import Analysis

    analysis = Analysis.load(args.spec, store=args.store)
    from .pipeline.analysis import make_environment

    name = args.env or analysis.spec.environment.name
    options = dict(analysis.spec.environment.options) if name == analysis.spec.environment.name else {}
    if args.workers is not None:
        if name != "local":
            raise CliError(f"--workers applies to --env local, not to {name!r}")
        options["worker_count"] = args.workers
    if args.sbatch:
        if name in ("inprocess", "local") or name.startswith("local:"):
            raise CliError(f"--sbatch applies to a cluster site, not to {name!r}")
        extra = {}
        for item in args.sbatch:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CliError(f"--sbatch {item!r}: expected KEY=VALUE, e.g. partition=long or time=02:00:00")
            extra[key.strip().lstrip("-")] = value
        options["sbatch_options"] = {**(options.get("sbatch_options") or {}), **extra}
    env = make_environment(name, options=options)
    units = analysis.units()
    print(f"{len(units)} unit(s); results in {analysis.store.root}", file=sys.stderr)
    bar = ProgressBar(len(units))
    try:
        summary = analysis.run(env=env, events=bar, stage=args.stage, overwrite=args.overwrite)
    except KeyboardInterrupt:
        bar.close()
        print("cancelled: every worker stopped; finished units are kept", file=sys.stderr)
        return EXIT_CANCELLED
    bar.close()
    print(summary.describe())
    for label, err in summary.errors.items():
        print(f"  failed {label}: {err}")
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_results(args) -> int:
    from .pipeline import open_results

    res = open_results(args.store)
    info = res.info
    spec = info.get("spec", {})
    print(f"{args.store}: {info.get('software')}, created {info.get('created')}, updated {info.get('updated')}")
    print(f"mesh {spec.get('mesh', {}).get('method')} {json.dumps(spec.get('mesh', {}).get('parameters', {}))}, "
          f"model {spec.get('model', {}).get('name')} {json.dumps(spec.get('model', {}).get('parameters', {}))}")
    rows = res.summary(verify=True)
    if not rows:
        print("no unit results yet")
    for st in rows:
        meta = st.meta or {}
        if st.state == "done":
            t = meta.get("timings", {})
            print(f"  done     {st.label}: {meta.get('n_cells', '?')} cells, {meta.get('n_steps', '?')} steps, "
                  f"{t.get('total', 0):.2f} s, {meta.get('environment', '')}")
        elif st.state == "failed":
            print(f"  failed   {st.label}: {meta.get('error', st.detail)} ({meta.get('where', '')})")
        else:
            print(f"  {st.state:<8} {st.label}: {st.detail}")
    return EXIT_OK


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(headless=args.headless, output=args.output, model=args.model, env=args.env)


REGISTRY_COMMANDS = ("analyze", "demo")


def build_parser(registries: bool = True) -> argparse.ArgumentParser:
    """The parser; without ``registries`` the mesh/model options of ``analyze`` and ``demo`` are left
    out, so that the other commands start without importing the models (scipy)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="napari-tramway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"napari-tramway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {"analyze": "run one analysis end to end on one trajectory file",
             "demo": "the sample data: open napari with maps, or --headless PNG/CSV"}
    if registries:
        _add_registry_commands(sub, helps)
    else:
        for name in REGISTRY_COMMANDS:
            sub.add_parser(name, help=helps[name], add_help=False)
    _add_pipeline_commands(sub)
    from .environments import cli as env_cli

    env_cli.add_commands(sub)
    return parser


def _add_registry_commands(sub, helps):
    from .core.meshes import MESHES
    from .core.models import MODELS

    p = sub.add_parser("analyze", help=helps["analyze"],
                       description="Read TRAJECTORY_FILE, crop to the ROIs, build a mesh, fit a model; write "
                       "DIR/<file stem>/<region>.csv (one row per cell) and <region>.ntw (full result).")
    p.add_argument("trajectory_file")
    p.add_argument("--roi", help="ROI file (TRamWAy tab-separated, or napari-tramway .json)")
    p.add_argument("--roi-size", type=float, help="side (µm) of square ROIs for a centres-form ROI file")
    p.add_argument("--group-overlapping", action="store_true", help="group overlapping ROIs into one region")
    p.add_argument("--mesh", required=True, choices=list(MESHES))
    p.add_argument("--model", required=True, choices=list(MODELS))
    p.add_argument("--frame-interval", type=float, help="frame interval [s] (default: from the file or the data)")
    p.add_argument("--discard-static", action="store_true",
                   help="drop steps shorter than the localization precision (TRamWAy's filter; the models correct for it)")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    p.add_argument("--verbose", "-v", action="store_true")
    collide = _collisions()
    _add_registry_options(p, MESHES, "mesh parameters (a name shared with a model parameter gets a --mesh- prefix)",
                          prefix="mesh", collide=collide, aliases={"avg_location_count": ("--location-count",)})
    _add_registry_options(p, MODELS, "model parameters", aliases={"jeffreys_prior": ("--jeffreys",)})
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("demo", help=helps["demo"])
    p.add_argument("--headless", action="store_true", help="no display: write PNG and CSV files")
    p.add_argument("--output", default="demo-output", help="output directory (default: ./demo-output)")
    p.add_argument("--model", default="dv", choices=list(MODELS))
    p.add_argument("--env", default="inprocess")
    p.set_defaults(func=cmd_demo)


def _add_pipeline_commands(sub):
    p = sub.add_parser("run", help="run an analysis spec (JSON/TOML) with progress")
    p.add_argument("spec")
    p.add_argument("--env", default=None, help="inprocess, local, local:N, or a site name (default: the spec's)")
    p.add_argument("--workers", type=int, default=None, help="number of local worker processes")
    p.add_argument("--store", default=None, help="result store directory (default: <spec>.results)")
    p.add_argument("--stage", default=None, choices=["tessellate_and_infer", "tessellate", "infer"])
    p.add_argument("--overwrite", action="store_true", help="recompute units that are already done")
    p.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option for a cluster site, e.g. --sbatch partition=long --sbatch "
                   "account=lab --sbatch time=02:00:00 (repeatable; added to the site's own)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("results", help="list what a result store holds")
    p.add_argument("store")
    p.set_defaults(func=cmd_results)



def main(argv=None) -> int:
    from .core.errors import ArchiveError, ParameterError, RoiFormatError, TrajectoryFormatError
    from .pipeline.spec import SpecError

    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(registries=command in REGISTRY_COMMANDS)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, SpecError, TrajectoryFormatError, RoiFormatError, ParameterError, ArchiveError) as exc:
        print(f"napari-tramway {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (CliError, ParameterError)) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
