"""``napari-tramway summary RUN``: a run's summary table, the conditions compared, and a figure;
and the ``--label`` / ``--sample-sheet`` options of ``analyze`` and ``run``.

``RUN`` is a result store directory, a spec file (its store: ``--store`` or ``<spec>.results``; its
labels are the spec file's, as it is now) or the id of a run recorded in the ledger. The table is
written to ``<store>/summary.csv`` (and ``.parquet`` with pyarrow); conditions are compared when the
label ``--by`` (default ``condition``) has two values, or those given with ``--compare``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .options import CliError

HELP = "a run's summary table (summary.csv), its conditions compared, and a figure"


# -- labels on analyze / run ------------------------------------------------------------------------

def add_label_options(parser) -> None:
    """``--label KEY=VALUE`` (repeatable) and ``--sample-sheet CSV``."""
    group = parser.add_argument_group("labels (for the summary: napari-tramway summary)")
    group.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                       help="a label of every data file, e.g. --label condition=treated (repeatable)")
    group.add_argument("--sample-sheet", metavar="CSV",
                       help="labels per data file: a CSV with a 'file' column and one column per label "
                       "(file,condition,replicate)")


def apply_label_options(spec, args) -> None:
    """Set the labels of ``--sample-sheet`` then ``--label`` on the spec's files."""
    from ..pipeline.labels import apply_labels, apply_sample_sheet, parse_labels

    if getattr(args, "sample_sheet", None):
        apply_sample_sheet(spec, args.sample_sheet)
    labels = {}
    for text in getattr(args, "label", None) or []:
        labels.update(parse_labels(text, where=f"--label {text!r}"))
    if labels:
        apply_labels(spec, labels)


# -- the command ----------------------------------------------------------------------------------------

def add_command(sub) -> None:
    p = sub.add_parser("summary", help=HELP, description=__doc__.split("\n\n")[1].replace("``", "'"))
    p.add_argument("run", metavar="RUN", help="a result store directory, a spec file, or a recorded run's id")
    p.add_argument("--store", help="the result store of a spec file (default: <spec>.results)")
    p.add_argument("--sample-sheet", metavar="CSV", help="labels per data file, instead of the run's")
    p.add_argument("--by", default="condition", help="the label whose values are compared (default: condition)")
    p.add_argument("--replicate", default="file",
                   help="what a replicate is: file (default) or a label such as cell or replicate")
    p.add_argument("--compare", metavar="REFERENCE,OTHER",
                   help="the two values of --by to compare (default: the two there are, the first met as reference)")
    p.add_argument("--quantity", action="append", default=[],
                   help="diffusivity, |drift|, |force|, potential, potential depth (default: every one present)")
    p.add_argument("--resample-cells", action="store_true",
                   help="also resample cells within files (two-stage bootstrap, more conservative)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default: 0.95)")
    p.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples (default: 9999)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the resampling (default 0: the same results give the same intervals; "
                        "another seed shows the resampling's own variation)")
    p.add_argument("--figure", metavar="FILE", help="write the figure: .png, .svg or .pdf")
    p.set_defaults(func=cmd_summary)


def _open(args):
    """``(store, spec, record)`` of ``RUN``: ``record`` is the ledger's record of a remote run whose
    results come to that store, else None."""
    from ..pipeline.spec import AnalysisSpec
    from ..pipeline.store import ResultStore

    path = Path(args.run).expanduser()
    if path.is_file():
        spec = AnalysisSpec.load(path)
        store = ResultStore(args.store or path.with_suffix("").as_posix() + ".results")
        if not store.exists():
            raise CliError(f"{store.root}: no results for {path} (run it first: napari-tramway run {path})")
        return store, spec, _record_of(store)
    if not path.exists():
        from ..analysis import run_record

        try:
            record = run_record(args.run)
        except Exception:
            raise CliError(f"{args.run}: neither a result store, a spec file nor a recorded run") from None
        store = ResultStore(Path(record.get("local_store") or ""))
        return store, store.spec(), record
    store = ResultStore(path)
    return store, store.spec(), _record_of(store)


def _record_of(store):
    """The latest ledger record of a remote run collected into ``store``, or None."""
    from ..analysis import list_runs

    root = Path(store.root).resolve()
    found = [r for r in list_runs() if r.get("local_store") and Path(r["local_store"]).resolve() == root]
    return found[-1] if found else None


def _not_collected(record, table) -> str | None:
    """What a remote run still has on its cluster, and how to collect it; None when every unit is here."""
    from ..analysis import run_states_text, run_unit_labels

    if record is None:
        return None
    units = run_unit_labels(record)
    here = set(table["unit"]) if "unit" in table.columns else set()
    missing = [u for u in units if u not in here]
    if not missing:
        return None
    run_id = record.get("run_id", "?")
    return (f"{len(missing)} of {len(units)} units of run {run_id} have no result here "
            f"({record.get('site', 'the cluster')}: {run_states_text(record)}, as last seen); "
            f"'napari-tramway attach {run_id}' collects what finished and follows the rest")


def cmd_summary(args) -> int:
    import pandas as pd

    from ..pipeline import compare, summary
    from ..pipeline.labels import apply_sample_sheet

    if not 0 < args.confidence < 1:
        raise CliError(f"--confidence {args.confidence}: expected a level between 0 and 1, e.g. 0.95")
    store, spec, record = _open(args)
    if args.sample_sheet:
        apply_sample_sheet(spec, args.sample_sheet)
    table = summary.refresh_summary(store, spec)
    csv_path, parquet_path = summary.summary_paths(store)
    extra = f" and {parquet_path.name}" if summary.parquet_available() else ""
    print(f"{len(table)} finished unit(s): {csv_path}{extra}")
    pending = _not_collected(record, table)
    if pending:
        print(pending, file=sys.stderr)
    if table.empty:
        return 0
    cells = summary.cell_values(store, spec)
    names = args.quantity or [q for q in summary.QUANTITIES if q in cells.columns and cells[q].notna().any()] + (
        [summary.DEPTH.name] if summary.DEPTH_COLUMN in table.columns and table[summary.DEPTH_COLUMN].notna().any() else [])
    for name in names:
        compare.quantity_of(name)  # an unknown --quantity is one clear error
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        for name in names:
            data = table if compare.quantity_of(name) is summary.DEPTH else cells
            if args.by not in data.columns:
                keys = ", ".join(table.attrs.get("label_keys") or []) or "none"
                print(f"\nno label {args.by!r} to group by (labels: {keys}); set them with --label, --sample-sheet "
                      "or in the spec")
                break
            q = compare.quantity_of(name)
            desc = compare.describe_conditions(data, name, args.by, args.replicate)
            print(f"\n{name} [{q.unit}] per {args.by} (replicate centre: {desc.attrs['centre']} of the "
                  f"{args.replicate}s' weighted medians)")
            print(desc.to_string(index=False))
    comparisons = _comparisons(args, table, cells, names)
    if comparisons:
        print()
        for c in comparisons:
            print(c.describe())
    if args.figure:
        from ..summary_plots import save_figure, summary_figure

        fig = summary_figure(cells, table, by=args.by, replicate=args.replicate, quantities=names,
                             comparisons=comparisons)
        try:
            save_figure(fig, args.figure)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        print(f"figure: {args.figure}", file=sys.stderr)
    return 0


def _comparisons(args, table, cells, names):
    from ..pipeline import compare, summary

    if args.by not in cells.columns:
        return []
    values = compare.conditions_of(cells, args.by)
    if args.compare:
        pair = [v.strip() for v in args.compare.split(",")]
        if len(pair) != 2 or not all(pair):
            raise CliError(f"--compare {args.compare!r}: expected REFERENCE,OTHER, e.g. control,treated")
        reference, other = pair
    elif len(values) == 2:
        reference, other = values
    else:
        if len(values) > 2:
            print(f"\n{args.by} has {len(values)} values ({', '.join(values)}): say which two to compare with "
                  "--compare REFERENCE,OTHER")
        return []
    out = []
    for name in names:
        depth = compare.quantity_of(name) is summary.DEPTH
        try:
            out.append(compare.compare(table if depth else cells, name, reference, other, by=args.by,
                                       replicate=args.replicate, confidence=args.confidence,
                                       n_resamples=args.resamples, resample_cells=args.resample_cells and not depth,
                                       seed=args.seed))
        except compare.ComparisonError as exc:
            if args.compare:  # asked for: an error
                raise CliError(f"{name}: {exc}") from None
            print(f"{name}: not compared: {exc}")
    return out
