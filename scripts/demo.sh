#!/usr/bin/env bash
# Quick start: install napari-tramway and run the main job on the bundled sample data.
#   scripts/demo.sh             opens napari with the sample image, its trajectories, three ROIs and
#                               the maps computed in-process (needs a display)
#   scripts/demo.sh --headless  no display: writes the maps as CSV and as figures (PNG, PDF: colour bar,
#                               title, units, scale bar) under ./demo-output/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system.sh
bash scripts/venv.sh all
exec .venv/bin/napari-tramway demo "$@"
