"""``python -m validation [--tramway] [--quick] [--seeds N] [--only SECTION ...]``

Runs the validation suite from the repository root (with the project's environment) and rewrites
``docs/validation.md`` and ``docs/images/validation/``. ``--tramway`` runs TRamWAy 0.7 next to ours
(its environment is created on first use; its DV takes minutes per seed, cached afterwards).
``--quick``: fewer cells in the coverage grid and one seed (a smoke run, not for publication).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import warnings

from . import report, suite

SECTIONS = ("d_filter", "d_coverage", "dv_issue", "dv_sample", "location_count")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation", description=__doc__.split("\n\n")[1])
    parser.add_argument("--tramway", action="store_true", help="also run TRamWAy 0.7 (own virtual environment)")
    parser.add_argument("--quick", action="store_true", help="small smoke run (one seed, fewer cells)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the issue's field (default 4)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    seeds = list(range(1 if args.quick else args.seeds))
    sections = args.only or SECTIONS
    tw = None
    if args.tramway:
        from . import tramway_runner as tw

        try:
            tw.environment()
        except tw.TramwayUnavailable as exc:
            print(f"TRamWAy 0.7 is unavailable: {exc}", file=sys.stderr)
            return 1
    t0 = time.perf_counter()
    results = {}
    steps = {"d_filter": lambda: suite.d_filter(seeds, tw),
             "d_coverage": lambda: suite.d_coverage(quick=args.quick),
             "dv_issue": lambda: suite.dv_issue(seeds, tw),
             "dv_sample": lambda: suite.dv_sample(),
             "location_count": lambda: suite.location_count(tw)}
    for name in sections:
        print(f"{name}…", flush=True)
        results[name] = steps[name]()
    meta = {"tramway": tw is not None, "seeds": seeds, "duration": time.perf_counter() - t0,
            "date": datetime.date.today().isoformat()}
    if tw is not None:
        d_rows = [r for r in results.get("d_filter", {}).get("rows", []) if r["method"].startswith("TRamWAy")]
        meta["tramway_versions"] = _tramway_versions(tw, results) or (d_rows and "TRamWAy 0.7")
    path = report.write(results, meta)
    print(f"wrote {path} ({meta['duration']:.0f} s)")
    return 0


def _tramway_versions(tw, results) -> str | None:
    """The TRamWAy environment's package versions, from its worker (cached run of the first D job)."""
    fig = results.get("d_filter", {}).get("figure") or {}
    case = fig.get("case")
    if case is None:
        return None
    return tw.run(case, "d", sigma=case.sigma)[1]["versions"]


if __name__ == "__main__":
    sys.exit(main())
