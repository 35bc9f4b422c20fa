"""Layout helpers that keep the dock usable on a laptop screen: tab pages that scroll, compact margins."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

#: The dock's width (px): enough for the forms, so that a 1280 px window keeps most of its width
#: for the canvas.
DOCK_WIDTH = 330


def scrolling(page: QWidget) -> QVBoxLayout:
    """Make ``page`` a vertical scroll area; return the layout of its content.

    The page's height then never forces the dock (and napari's window) to grow, and a 720 px high
    screen shows every tab, scrolling where needed.
    """
    outer = QVBoxLayout(page)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    inner = QWidget()
    layout = QVBoxLayout(inner)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(6)
    scroll.setWidget(inner)
    outer.addWidget(scroll)
    return layout
