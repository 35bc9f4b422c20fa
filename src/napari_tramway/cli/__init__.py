"""The ``napari-tramway`` command line: every analysis the GUI runs can be run from here.

Sub-commands: ``analyze`` (one file, end to end), ``run`` (a spec, in-process, on local
processes or on a site), ``results`` (what a store holds), ``demo`` (the sample data)
(:mod:`.analyze`); ``figure`` (publication figures of a result, :mod:`.figure`); ``sites`` /
``check-site`` (cluster adapters), ``runs`` / ``attach`` / ``cancel`` / ``resubmit`` / ``clean``
(remote runs) (:mod:`.clusters`); ``summary`` (a run's summary table, its conditions compared, a
figure) (:mod:`.summary`). The commands use the
scripting façade (:mod:`napari_tramway.analysis`); mesh, model and environment options are
generated from the registries (:mod:`.options`), progress is shown from the run's events
(:mod:`.progress`). Only what a command needs is imported, so ``--help`` starts at once.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .analyze import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, REGISTRY_COMMANDS
from .options import CliError

#: commands that may connect to a site: the site's questions are asked on the terminal
CONNECTING = ("run", "demo", "check-site", "attach", "cancel", "resubmit", "clean")
#: errors printed as one line (module, class names, usage error?): bad input, a site that cannot be
#: reached or refuses, a run not in the ledger... never a traceback
USER_ERRORS = (
    ("napari_tramway.cli.options", ("CliError",), True),
    ("napari_tramway.core.errors", ("ParameterError",), True),
    ("napari_tramway.environments.sites", ("SiteNotFound",), True),
    ("napari_tramway.core.errors", ("TrajectoryFormatError", "RoiFormatError", "ArchiveError"), False),
    ("napari_tramway.pipeline.spec", ("SpecError",), False),
    ("napari_tramway.pipeline.labels", ("LabelError",), True),
    ("napari_tramway.pipeline.compare", ("ComparisonError",), False),
    ("napari_tramway.environments.slurm.checks", ("SiteError",), False),
    ("napari_tramway.environments.ssh", ("SSHError",), False),
    ("napari_tramway.environments.ledger", ("LedgerError",), False),
    ("builtins", ("OSError",), False),  # a file or folder the system refuses: its message names it
)


def build_parser(registries: bool = True) -> argparse.ArgumentParser:
    """The parser; without ``registries`` the mesh/model options of ``analyze`` and ``demo`` are left
    out, so that the other commands start without importing the models (scipy)."""
    from .._version import __version__
    from . import analyze, clusters, figure, summary

    parser = argparse.ArgumentParser(
        prog="napari-tramway", description="Maps of diffusivity, drift, force and potential from "
        "single-particle tracking: every analysis the napari plugin runs, from the command line.")
    parser.add_argument("--version", action="version", version=f"napari-tramway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    analyze.add_commands(sub, registries)
    figure.add_commands(sub)
    clusters.add_commands(sub)
    summary.add_command(sub)
    return parser


def user_error(exc: BaseException) -> bool | None:
    """None if ``exc`` is not a user's error (a bug: its traceback is shown), else whether it is
    a usage error (exit status 2; 1 otherwise). Only modules already imported are looked at."""
    for module, names, usage in USER_ERRORS:
        mod = sys.modules.get(module)
        if mod is not None and isinstance(exc, tuple(getattr(mod, n) for n in names)):
            return usage
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(registries=command in REGISTRY_COMMANDS)
    args = parser.parse_args(argv)
    if args.command in CONNECTING:
        from ..analysis import set_default_callbacks
        from .prompts import callbacks

        set_default_callbacks(**callbacks())
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        usage = user_error(exc)
        if usage is None:
            raise
        print(f"napari-tramway {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if usage else EXIT_FAILED


def _one_line_warning(command: str):
    """Warnings (a unit assumed against the values' appearance...) as one line on stderr."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"napari-tramway {command}: warning: {text}", file=sys.stderr if file is None else file)

    return show


__all__ = ["CliError", "build_parser", "main"]
