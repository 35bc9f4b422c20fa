"""The cluster sub-commands of ``napari-tramway``: sites, check-site, runs, attach, cancel,
resubmit, clean.

Host keys are confirmed on the terminal (the SHA256 fingerprint is shown; only ``yes`` accepts),
passwords and one-time codes are read with :func:`getpass.getpass`; nothing is stored but an
accepted host key (in napari-tramway's own known_hosts).
"""

from __future__ import annotations

import getpass
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
# what a command on a recorded run reports as one line: no such run (LedgerError), its site cannot
# be re-created or refuses (SiteError), no connection (SSHError) -- all RuntimeError -- or a refused path
RUN_ERRORS = (RuntimeError, ValueError)


def confirm_host_key_tty(host: str, key_type: str, fingerprint: str) -> bool:
    """Ask on the terminal whether to trust an unknown host key (only 'yes' accepts)."""
    if not sys.stdin or not sys.stdin.isatty():
        print(f"napari-tramway: unknown host key for {host}: {key_type} {fingerprint}; not a terminal, refusing. "
              "Add the key to ~/.ssh/known_hosts (e.g. connect once with ssh) and retry.", file=sys.stderr)
        return False
    print(f"The authenticity of host {host} can't be established.\n"
          f"{key_type} key fingerprint is {fingerprint}.", file=sys.stderr)
    try:
        answer = input("Are you sure you want to trust it and continue connecting (yes/no)? ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"


def ask_secret_tty(prompt: str, echo: bool = False) -> str:
    """A password or one-time code, read from the terminal (not echoed unless ``echo``)."""
    prompt = prompt.rstrip() + " "
    try:
        return input(prompt) if echo else getpass.getpass(prompt)
    except EOFError:
        return ""


def _callbacks() -> dict:
    return {"confirm_host_key": confirm_host_key_tty, "ask_secret": ask_secret_tty}


def _events(verbose: bool):
    def cb(ev):
        if ev.unit is None or verbose or ev.kind in ("failed", "cancelled"):
            print(ev.describe(), file=sys.stderr)
            if verbose and ev.kind == "failed" and ev.traceback:
                print(ev.traceback, file=sys.stderr)
    return cb


def cmd_sites(args) -> int:
    from . import sites

    rows = sites.list_sites()
    width = max([len(n) for n, _, _ in rows] + [4])
    print(f"{'NAME':<{width}}  {'KIND':<11}  DESCRIPTION")
    for name, kind, desc in rows:
        print(f"{name:<{width}}  {kind:<11}  {desc}")
    print(f"\nprofiles: {sites.profiles_path()} (NAPARI_TRAMWAY_SITES); entry points: {sites.ENTRY_POINT_GROUP}; "
          "or package.module:Class, path/to/file.py:Class", file=sys.stderr)
    return EXIT_OK


def _site_options(args) -> dict:
    opts = {}
    if getattr(args, "user", None):
        opts["username"] = args.user
    if getattr(args, "container", None):
        opts["container"] = args.container
    return opts


def cmd_check_site(args) -> int:
    from . import sites
    from .slurm import SlurmOverSSH

    try:
        env = sites.make_site(args.site, **_site_options(args), **_callbacks())
    except Exception as exc:
        print(f"napari-tramway check-site: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(env, SlurmOverSSH):
        print(f"{args.site}: runs on this computer; nothing to check")
        return EXIT_OK
    print(f"checking {env.describe()}…", file=sys.stderr)
    try:
        results = env.check()
    finally:
        env.close()
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


def cmd_runs(args) -> int:
    from . import ledger

    runs = ledger.list_runs()
    if args.active:
        runs = [r for r in runs if r.get("status") not in ("done", "cancelled") or not r.get("remote_removed", True)]
    if not runs:
        print(f"no remote run in the ledger ({ledger.runs_dir()})")
        return EXIT_OK
    print(f"{'RUN':<24}  {'SITE':<28}  {'CREATED':<24}  {'STATUS':<12}  UNITS")
    for r in runs:
        site = r.get("site", {}).get("name", "?")
        site = site if len(site) <= 28 else "…" + site[-27:]
        print(f"{r['run_id']:<24}  {site:<28}  {r.get('created', ''):<24}  {r.get('status', '?'):<12}  "
              f"{ledger.summary_text(r)}")
    return EXIT_OK


def cmd_attach(args) -> int:
    from ..cli import ProgressBar
    from . import ledger
    from .slurm import start_attach

    try:
        record = ledger.load(args.run)
    except ledger.LedgerError as exc:
        print(f"napari-tramway attach: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bar = ProgressBar(len(record.get("units", [])))
    verbose = _events(args.verbose)

    def events(ev):
        if ev.unit is None:
            verbose(ev)
        else:
            bar(ev)

    try:
        handle = start_attach(record["run_id"], events, **_callbacks())
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
    print(summary.describe())
    for label, err in summary.errors.items():
        print(f"  failed {label}: {err}")
    print(f"results in {record['local_store']}")
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_cancel(args) -> int:
    from . import ledger
    from .slurm import cancel_run

    try:
        record = cancel_run(args.run, events=_events(True), **_callbacks())
    except ledger.LedgerError as exc:
        print(f"napari-tramway cancel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RUN_ERRORS as exc:
        print(f"napari-tramway cancel: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if record.get("cancel_cleared", True):
        print(f"run {record['run_id']} cancelled: no job of it left in the queue")
        return EXIT_OK
    print(f"run {record['run_id']}: scancel sent, but squeue still shows:\n{record.get('cancel_left', '')}")
    return EXIT_FAILED


def cmd_resubmit(args) -> int:
    from .slurm import resubmit

    try:
        summary = resubmit(args.run, labels=args.units or None, events=_events(args.verbose), **_callbacks())
    except RUN_ERRORS as exc:
        print(f"napari-tramway resubmit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(summary.describe())
    for label, err in summary.errors.items():
        print(f"  failed {label}: {err}")
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_clean(args) -> int:
    from .slurm import clean_run

    try:
        record = clean_run(args.run, forget=args.forget, **_callbacks())
    except RUN_ERRORS as exc:
        print(f"napari-tramway clean: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"removed {record['remote_dir']} on {record.get('host')}" + (" and forgot the run" if args.forget else ""))
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Add the cluster sub-commands to the ``napari-tramway`` parser (and make sites made during
    this process ask on the terminal for host keys and secrets)."""
    from . import sites

    sites.set_default_callbacks(confirm_host_key_tty, ask_secret_tty)

    p = subparsers.add_parser("sites", help="list the sites: presets, registered adapters, TOML profiles")
    p.set_defaults(func=cmd_sites)

    p = subparsers.add_parser("check-site", help="check that a site can run napari-tramway (exit 1 if not)",
                              description="Connect to SITE and check, in one remote command: the "
                              "remote_dependencies line, Slurm, the container executable and image, the "
                              "Python with numpy/scipy/pandas, and that scratch is writable.")
    p.add_argument("site", metavar="SITE", help="a site name (napari-tramway sites), package.module:Class, "
                   "or path/to/file.py:Class")
    p.add_argument("--user", help="user name on the cluster")
    p.add_argument("--container", help="container image on the cluster")
    p.set_defaults(func=cmd_check_site)

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
