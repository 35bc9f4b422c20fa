"""``python -m napari_tramway.cli``: the ``napari-tramway`` command."""

import sys

from . import main

sys.exit(main())
