"""``napari-tramway figure RESULT``: publication figures of a result (see :mod:`napari_tramway.figures`)."""

from __future__ import annotations

from pathlib import Path

HELP = "publication figures (PNG/SVG/PDF) of a result: colour bars, titles, units, scale bar"


def cmd_figure(args) -> int:
    from ..figures import Background, figures_of_path
    from .options import CliError

    background = None
    if args.background:
        if args.pixel_size is None:
            raise CliError("--background needs --pixel-size (µm per image pixel)")
        background = Background.from_file(args.background, args.pixel_size, tuple(args.origin))
    scale = {"shared": True, "separate": False, "auto": None}[args.scale]
    out = Path(args.output) if args.output else _default_output(args.result)
    try:
        paths = figures_of_path(args.result, out, quantities=args.quantity or None, formats=args.format or None,
                                background=background, shared_scale=scale, dpi=args.dpi)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for p in paths:
        print(f"wrote {p}")
    return 0


def _default_output(result) -> Path:
    p = Path(result)
    return (p if p.is_dir() else p.parent) / "figures"


def add_commands(sub) -> None:
    p = sub.add_parser("figure", help=HELP, description=(
        "Draw the maps of RESULT (a results directory, an analyze output folder or a .ntw file) as figures: "
        "one per quantity and run (and per region with separate colour scales), with colour bar, title, units "
        "and a scale bar in µm, optionally over a wide-field image."))
    p.add_argument("result")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="a directory (files named after the runs) or a file (fig.png: its name and format); "
                   "default: figures/ next to RESULT")
    p.add_argument("--format", nargs="+", choices=["png", "svg", "pdf"], help="file formats (default: png)")
    p.add_argument("--quantity", nargs="+", metavar="COLUMN",
                   help="maps columns to draw: diffusivity, potential, force, drift... (default: those present)")
    p.add_argument("--scale", choices=["auto", "shared", "separate"], default="auto",
                   help="colour scale across regions: one shared scale, one per region, or auto (shared, but "
                   "separate for the potential of separately fitted regions, whose zeros are unrelated)")
    p.add_argument("--background", metavar="IMAGE", help="a wide-field image (TIFF) drawn in grey under the maps")
    p.add_argument("--pixel-size", type=float, metavar="µm", help="the background image's pixel size [µm]")
    p.add_argument("--origin", type=float, nargs=2, default=(0.0, 0.0), metavar=("X", "Y"),
                   help="position [µm] of the background image's top-left corner (default: 0 0)")
    p.add_argument("--dpi", type=int, default=200, help="resolution of PNG files (default: 200)")
    p.set_defaults(func=cmd_figure)
