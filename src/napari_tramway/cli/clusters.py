"""The cluster commands of ``napari-tramway``: sites, check-site, container, runs, attach, cancel,
resubmit, clean. They use the scripting façade (:mod:`napari_tramway.analysis`) like a script
would; a site's questions (host keys, passwords) are asked on the terminal (:mod:`.prompts`).
"""

from __future__ import annotations

import sys

from .options import CliError, add_environment_options, environment_options
from .progress import ProgressBar, event_lines, print_summary
from .prompts import callbacks

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
# what a command on a recorded run reports as one line: no such run (LedgerError), its site cannot
# be re-created or refuses (SiteError), no connection (SSHError) -- all RuntimeError -- or a refused path
RUN_ERRORS = (RuntimeError, ValueError)


def cmd_sites(args) -> int:
    from ..analysis import list_sites, site_sources

    rows = list_sites()
    width = max([len(n) for n, _, _ in rows] + [4])
    print(f"{'NAME':<{width}}  {'KIND':<11}  DESCRIPTION")
    for name, kind, desc in rows:
        print(f"{name:<{width}}  {kind:<11}  {desc}")
    profiles, group = site_sources()
    print(f"\nprofiles: {profiles} (NAPARI_TRAMWAY_SITES); entry points: {group}; "
          "or package.module:Class, path/to/file.py:Class", file=sys.stderr)
    return EXIT_OK


def cmd_check_site(args) -> int:
    from ..analysis import check_site, environment_kind, make_environment

    env = make_environment(args.site, environment_options(args, environment_kind(args.site), args.site,
                                                          sites_only=True), **callbacks())
    if not env.remote:
        print(f"{args.site}: runs on this computer; nothing to check")
        return EXIT_OK
    print(f"checking {env.describe()}…", file=sys.stderr)
    results = check_site(env)
    for r in results:
        print(r.line())
        if r.ok is False:
            for line in r.message.strip().splitlines()[1:]:
                print(f"    {line}")
    failed = [r for r in results if r.ok is False]
    if failed:
        print(f"{len(failed)} check(s) failed: {', '.join(r.name for r in failed)}")
        return EXIT_FAILED
    print("all checks passed")
    return EXIT_OK


def cmd_container(args) -> int:
    from ..analysis import build_container, container_recipe

    try:
        if args.action == "recipe":
            print(container_recipe(args.wheel, args.base), end="")
            return EXIT_OK
        result = build_container(args.directory, wheel=args.wheel, from_pypi=args.from_pypi, base=args.base,
                                 run=not args.dry_run)
    except RuntimeError as exc:  # ContainerError: no source checkout, pip failed...
        raise CliError(str(exc)) from None
    for line in result.messages:
        print(line)
    if not result.built:
        print("\nbuild the image on a machine with apptainer (or singularity):")
        for cmd in result.commands:
            print(f"    {cmd}")
    print("\nthen copy it to the cluster, give it to the site and check it:")
    print(f"    scp {result.image} LOGIN:containers/")
    print(f"    napari-tramway check-site SITE --container containers/{result.image.name}")
    return EXIT_FAILED if result.error else EXIT_OK


def cmd_runs(args) -> int:
    from ..analysis import list_runs, run_states_text, runs_dir

    runs = list_runs(active=args.active)
    if not runs:
        print(f"no remote run in the ledger ({runs_dir()})")
        return EXIT_OK
    print(f"{'RUN':<24}  {'SITE':<28}  {'CREATED':<24}  {'STATUS':<12}  UNITS")
    for r in runs:
        site = r.get("site", {}).get("name", "?")
        site = site if len(site) <= 28 else "…" + site[-27:]
        print(f"{r['run_id']:<24}  {site:<28}  {r.get('created', ''):<24}  {r.get('status', '?'):<12}  "
              f"{run_states_text(r)}")
    return EXIT_OK


def cmd_attach(args) -> int:
    from ..analysis import run_record, start_attach

    try:
        record = run_record(args.run)
    except RUN_ERRORS as exc:
        raise CliError(str(exc)) from None
    bar = ProgressBar(len(record.get("units", [])), verbose=args.verbose)
    try:
        handle = start_attach(record["run_id"], bar, **callbacks())
    except RUN_ERRORS as exc:
        print(f"napari-tramway attach: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        while handle.wait(0.2) is None:
            pass
    except KeyboardInterrupt:
        bar.close()
        print(f"detached; the run goes on on the cluster: napari-tramway attach {record['run_id']}", file=sys.stderr)
        return EXIT_CANCELLED
    bar.close()
    if handle.exception is not None:
        print(f"napari-tramway attach: {handle.exception}", file=sys.stderr)
        return EXIT_FAILED
    summary = handle.summary()
    print_summary(summary)
    print(f"results in {record['local_store']}")
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_cancel(args) -> int:
    from ..analysis import cancel_run, run_record

    try:
        run_record(args.run)
    except RUN_ERRORS as exc:
        raise CliError(str(exc)) from None
    try:
        record = cancel_run(args.run, events=event_lines(True), **callbacks())
    except RUN_ERRORS as exc:
        print(f"napari-tramway cancel: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if record.get("cancel_cleared", True):
        print(f"run {record['run_id']} cancelled: no job of it left in the queue")
        return EXIT_OK
    print(f"run {record['run_id']}: scancel sent, but squeue still shows:\n{record.get('cancel_left', '')}")
    return EXIT_FAILED


def cmd_resubmit(args) -> int:
    from ..analysis import resubmit

    try:
        summary = resubmit(args.run, labels=args.units or None, events=event_lines(args.verbose), **callbacks())
    except RUN_ERRORS as exc:
        print(f"napari-tramway resubmit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_summary(summary)
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_clean(args) -> int:
    from ..analysis import clean_run

    try:
        record = clean_run(args.run, forget=args.forget, **callbacks())
    except RUN_ERRORS as exc:
        print(f"napari-tramway clean: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"removed {record['remote_dir']} on {record.get('host')}" + (" and forgot the run" if args.forget else ""))
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Add the cluster commands to the ``napari-tramway`` parser."""
    p = subparsers.add_parser("sites", help="list the sites: presets, registered adapters, TOML profiles")
    p.set_defaults(func=cmd_sites)

    p = subparsers.add_parser("check-site", help="check that a site can run napari-tramway (exit 1 if not)",
                              description="Connect to SITE and check, in one remote command: the "
                              "remote_dependencies line, Slurm, the container executable and image, the "
                              "Python with the worker's packages (numpy, scipy, pandas, shapely), and that scratch is writable.")
    p.add_argument("site", metavar="SITE", help="a site name (napari-tramway sites), package.module:Class, "
                   "or path/to/file.py:Class")
    add_environment_options(p, sites_only=True)
    p.set_defaults(func=cmd_check_site)

    p = subparsers.add_parser("container", help="the worker's Apptainer/Singularity image: write its recipe, "
                              "build it", description="build: write the wheel of this napari-tramway and the "
                              "definition file napari-tramway-VERSION.def into DIRECTORY, and build the image "
                              "when apptainer (or singularity) is installed; otherwise print the commands that "
                              "build it on a machine that has it. recipe: print the definition file.")
    p.add_argument("action", choices=["build", "recipe"])
    p.add_argument("directory", nargs="?", default="napari-tramway-container",
                   help="build: where the wheel, the recipe and the image go (default: ./napari-tramway-container)")
    p.add_argument("--wheel", help="a wheel of this version to install (default: built from the source checkout)")
    p.add_argument("--from-pypi", action="store_true", help="install the released version from PyPI instead")
    p.add_argument("--base", help="the base image (default: docker://python:X.Y-slim-bookworm, this computer's Python)")
    p.add_argument("--dry-run", action="store_true", help="write the wheel and the recipe, do not run apptainer")
    p.set_defaults(func=cmd_container)

    p = subparsers.add_parser("runs", help="list the remote runs of the ledger")
    p.add_argument("--active", action="store_true", help="only runs not finished (or whose remote directory is kept)")
    p.set_defaults(func=cmd_runs)

    p = subparsers.add_parser("attach", help="reattach to a remote run: follow it and collect its results")
    p.add_argument("run", metavar="RUN", help="run id (a unique prefix is enough)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=cmd_attach)

    p = subparsers.add_parser("cancel", help="cancel a remote run (scancel its jobs)")
    p.add_argument("run", metavar="RUN")
    p.set_defaults(func=cmd_cancel)

    p = subparsers.add_parser("resubmit", help="run the failed units of a remote run again")
    p.add_argument("run", metavar="RUN")
    p.add_argument("units", nargs="*", metavar="UNIT", help="unit labels (default: every failed unit)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=cmd_resubmit)

    p = subparsers.add_parser("clean", help="remove a remote run's directory on the cluster")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--forget", action="store_true", help="also remove the run from the ledger")
    p.set_defaults(func=cmd_clean)
