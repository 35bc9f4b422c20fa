"""The analysis commands of ``napari-tramway``: ``analyze`` (one file, end to end), ``run`` (a spec,
in-process, on local processes or on a site), ``results`` (what a store holds), ``demo``.

They use the scripting façade (:mod:`napari_tramway.analysis`) like a script would. Mesh, model
and environment options are generated from the registries (:mod:`.options`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .options import (
    CliError,
    add_environment_options,
    add_file_options,
    add_registry_options,
    collect,
    collisions,
    environment_options,
    file_problems,
    file_settings,
    given,
    option_dest,
    parameter_names,
)
from .paths import writable_directory
from .progress import ProgressBar, event_lines, print_summary
from .summary import add_label_options, apply_label_options

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
#: commands whose options come from the mesh and model registries (the others start without them)
REGISTRY_COMMANDS = ("analyze", "demo")
HELPS = {"analyze": "run one analysis end to end on one trajectory file",
         "demo": "the sample data: open napari with maps, or --headless figures and CSV"}
#: model parameters that are data-file settings on the command line: in a one-file analysis the
#: model's σ is the file's (--localization-precision); a spec file may still set model.parameters.sigma
MODEL_PARAMETERS_OF_THE_FILE = ("sigma",)
FILE_OPTIONS = ("data-file settings (generated from the data-file settings, docs/formats.md; unset: from the "
                "file, else the rules there)")


# -- sub-commands ------------------------------------------------------------------------------

def cmd_analyze(args) -> int:
    from ..analysis import Analysis
    from ..core.meshes import MESHES
    from ..core.models import MODELS
    from ..pipeline.spec import (
        AnalysisSpec,
        DataFile,
        MeshSpec,
        ModelSpec,
        SpecError,
    )

    path = Path(args.trajectory_file)
    if not path.exists():
        raise CliError(f"{path}: no such trajectory file")
    out = writable_directory(args.output, "-o/--output")
    collide = collisions()
    mesh_params = collect(args, MESHES[args.mesh], "mesh", collide)
    model_params = collect(args, MODELS[args.model])
    unknown_mesh = [option_dest(n, "mesh", collide) for n in given(args, MESHES, "mesh", collide)
                    if n not in mesh_params and (n in collide or n not in parameter_names(MODELS))]
    not_for_model = [n for n in given(args, MODELS) if n not in model_params
                     and (n in collide or n not in parameter_names(MESHES))]
    for names, what in ((unknown_mesh, f"mesh {args.mesh!r}"), (not_for_model, f"model {args.model!r}")):
        if names:
            raise CliError(f"option(s) {', '.join('--' + n.replace('_', '-') for n in names)} do not apply to the {what}")
    try:  # validated once, by the spec's sections, their problems named by their flags
        mesh, model = MeshSpec(args.mesh, mesh_params), ModelSpec(args.model, model_params)
    except SpecError as exc:
        def flag(path):  # mesh.parameters.resolution → --resolution
            kind, _, name = path.partition(".parameters.")
            return "--" + option_dest(name, "mesh" if kind == "mesh" else "", collide).replace("_", "-")
        raise CliError("; ".join(f"{flag(p)}: {m}" for p, m in exc.problems)) from None
    rois = []
    if args.roi:
        from ..core.roi import read_rois

        rois = read_rois(args.roi, size=args.roi_size)
    try:
        f = DataFile(path=str(path.resolve()), **file_settings(args))
    except SpecError as exc:
        raise CliError(file_problems(exc)) from None
    spec = AnalysisSpec(files=[f], rois=rois, group_overlapping_rois=args.group_overlapping,
                        mesh=mesh, model=model,
                        discard_static=args.discard_static)
    apply_label_options(spec, args)
    stem = spec.file_labels()[0]
    writable_directory(out / stem, "-o/--output")
    analysis = Analysis(spec, store=out / stem / "results")
    summary = analysis.run(env="inprocess", events=event_lines(args.verbose, only_failures=True))
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


def _one_line(label, maps, meta) -> str:
    import numpy as np

    t = maps.table
    d = t["diffusivity"].to_numpy() if "diffusivity" in t else np.array([np.nan])
    d = d[np.isfinite(d)]
    timings = meta.get("timings", {})
    n = int(t["n"].sum()) if "n" in t else meta.get("n_steps", 0)
    fitted = int(maps.fitted.sum())
    dtext = f"D median {np.median(d):.3g} µm²/s" if d.size else "no D"
    return (f"{label}: {len(t)} cells, {fitted} with steps (the CSV's rows), {n} steps, {dtext}, "
            f"fit {timings.get('fit', 0):.3g} s ({getattr(maps, 'status', '?')})")


def cmd_run(args) -> int:
    from ..analysis import Analysis, environment_kind, make_environment

    analysis = Analysis.load(args.spec, store=args.store)
    overrides = file_settings(args)
    if overrides:
        analysis.spec.files = _with_settings(analysis.spec.files, overrides)
    apply_label_options(analysis.spec, args)
    writable_directory(analysis.store.root, "the result store (--store)")
    name = args.env or analysis.spec.environment.name
    options = dict(analysis.spec.environment.options) if name == analysis.spec.environment.name else {}
    kind = environment_kind(name)
    options.update(environment_options(args, kind, name))
    if args.sbatch:
        if kind is None or "sbatch" not in kind.extra:
            raise CliError(f"--sbatch applies to a cluster site, not to {name!r}")
        extra = {}
        for item in args.sbatch:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CliError(f"--sbatch {item!r}: expected KEY=VALUE, e.g. partition=long or time=02:00:00")
            extra[key.strip().lstrip("-")] = value
        options["sbatch_options"] = {**(options.get("sbatch_options") or {}), **extra}
    env = make_environment(name, options)
    units = analysis.units()
    print(f"{len(units)} unit(s); results in {analysis.store.root}", file=sys.stderr)
    bar = ProgressBar(len(units))
    try:
        summary = analysis.run(env=env, events=bar, stage=args.stage, overwrite=args.overwrite)
    except KeyboardInterrupt:
        print("cancelled: every worker stopped; finished units are kept", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        bar.close()
    print_summary(summary)
    if analysis.summary_error is not None:
        print(f"the summary table could not be written: {analysis.summary_error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if summary.ok else EXIT_FAILED


def _with_settings(files, overrides: dict) -> list:
    """The spec's files with the data-file settings given on the command line (each file checked
    again: a setting may conflict with one of the spec's)."""
    from dataclasses import replace

    from ..pipeline.spec import SpecError

    out = []
    for i, f in enumerate(files):
        try:
            out.append(replace(f, reader=None, **overrides))
        except SpecError as exc:
            raise CliError(f"the data-file options applied to files[{i}] ({f.path}): "
                           f"{file_problems(exc, flags=False)}") from None
    return out


def cmd_results(args) -> int:
    from ..analysis import open_results

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
    from ..demo import run_demo

    writable_directory(args.output, "--output")
    return run_demo(headless=args.headless, output=args.output, model=args.model, env=args.env)


def add_commands(sub, registries: bool = True) -> None:
    """Add ``analyze``, ``demo``, ``run`` and ``results``; without ``registries`` the first two are
    stubs without their mesh/model options (so that the others start without the models)."""
    if registries:
        _add_registry_commands(sub)
    else:
        for name in REGISTRY_COMMANDS:
            sub.add_parser(name, help=HELPS[name], add_help=False)
    _add_pipeline_commands(sub)


def _add_registry_commands(sub):
    from ..core.meshes import MESHES
    from ..core.models import MODELS

    p = sub.add_parser("analyze", help=HELPS["analyze"],
                       description="Read TRAJECTORY_FILE, crop to the ROIs, build a mesh, fit a model; write "
                       "DIR/<file stem>/<region>.csv (one row per cell) and <region>.ntw (full result).")
    p.add_argument("trajectory_file")
    p.add_argument("--roi", help="ROI file (TRamWAy tab-separated, or napari-tramway .json)")
    p.add_argument("--roi-size", type=float, help="side (µm) of square ROIs for a centres-form ROI file")
    p.add_argument("--group-overlapping", action="store_true", help="group overlapping ROIs into one region")
    p.add_argument("--mesh", required=True, choices=list(MESHES))
    p.add_argument("--model", required=True, choices=list(MODELS))
    p.add_argument("--discard-static", action="store_true",
                   help="drop steps shorter than the localization precision (TRamWAy's filter; the models correct for it)")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    p.add_argument("--verbose", "-v", action="store_true")
    add_file_options(p, FILE_OPTIONS)
    add_label_options(p)
    collide = collisions()
    add_registry_options(p, MESHES, "mesh parameters (a name shared with a model parameter gets a --mesh- prefix)",
                         prefix="mesh", collide=collide, aliases={"avg_location_count": ("--location-count",)})
    add_registry_options(p, MODELS, "model parameters (σ is the file's: --localization-precision)",
                         aliases={"jeffreys_prior": ("--jeffreys",)}, exclude=MODEL_PARAMETERS_OF_THE_FILE)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("demo", help=HELPS["demo"])
    p.add_argument("--headless", action="store_true", help="no display: write the maps as CSV and as figures (PNG, PDF)")
    p.add_argument("--output", default="demo-output", help="output directory (default: ./demo-output)")
    p.add_argument("--model", default="dv", choices=list(MODELS))
    p.add_argument("--env", default="inprocess")
    p.set_defaults(func=cmd_demo)


def _add_pipeline_commands(sub):
    p = sub.add_parser("run", help="run an analysis spec (JSON/TOML) with progress")
    p.add_argument("spec")
    p.add_argument("--env", default=None, help="inprocess, local, local:N, or a site name (default: the spec's)")
    p.add_argument("--store", default=None, help="result store directory (default: <spec>.results)")
    p.add_argument("--stage", default=None,
                   choices=["tessellate_and_infer", "tessellate", "infer", "tessellate_then_infer"],
                   help="default: the spec's; tessellate_then_infer: every mesh, then the maps on them (on a "
                   "cluster the maps' array job waits for the meshes', --dependency=afterok)")
    p.add_argument("--overwrite", action="store_true", help="recompute units that are already done")
    p.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option for a cluster site, e.g. --sbatch gres=gpu:1 --sbatch "
                   "constraint=avx2 (repeatable; added to the site's own)")
    add_file_options(p, "data-file settings for every file of the spec (replacing the spec's; generated from the "
                        "data-file settings, docs/formats.md)")
    add_label_options(p)
    add_environment_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("results", help="list what a result store holds")
    p.add_argument("store")
    p.set_defaults(func=cmd_results)
